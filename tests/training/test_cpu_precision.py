"""The CPU's precision policy: bf16 autocast + channels-last exactly where the processor computes
bf16 natively (detection monkeypatched both ways), fp32 elsewhere and on request; what stays fp32
under bf16 (BatchNorm statistics, the loss, the optimiser state); bf16 outputs close to fp32's.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo import device as dev
from cnnzoo.models.base import googlenet_loss
from cnnzoo.training import Trainer
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.setup import resolve_runtime

CPU = torch.device("cpu")


@pytest.fixture
def cpu_bf16(monkeypatch):
    """``cpu_bf16(feature)``: this CPU computes bf16 natively with ``feature`` (None: it does not)."""

    def install(feature: str | None) -> None:
        monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: feature)

    return install


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def _batches(n: int = 3, size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 1, size, size, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


@pytest.mark.parametrize("feature", ["AVX512-BF16", "AMX-BF16", None])
def test_auto_is_bf16_and_channels_last_exactly_where_the_cpu_has_it(cpu_bf16, no_cuda, feature):
    cpu_bf16(feature)
    native = feature is not None
    assert dev.resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    rt = resolve_runtime(TrainConfig(verbose=False))
    assert (rt.device, rt.precision, rt.channels_last) == (CPU, "bf16" if native else "fp32", native)
    # asked for, each is honoured whatever the CPU has
    rt = resolve_runtime(TrainConfig(precision="fp32", verbose=False))
    assert (rt.precision, rt.channels_last) == ("fp32", False)
    rt = resolve_runtime(TrainConfig(precision="bf16", channels_last=False, verbose=False))
    assert (rt.precision, rt.channels_last) == ("bf16", False)
    assert resolve_runtime(TrainConfig(channels_last=True, verbose=False)).channels_last


def test_detection_reads_torchs_cpu_query_and_falls_back_to_the_kernels_flags(monkeypatch):
    query = {"_is_amx_tile_supported": False, "_is_avx512_bf16_supported": False}
    for key in query:
        monkeypatch.setattr(torch.cpu, key, lambda key=key: query[key])
    monkeypatch.setattr(dev.platform, "machine", lambda: "x86_64")

    def detect() -> str | None:
        dev.cpu_bf16_feature.cache_clear()
        return dev.cpu_bf16_feature()

    try:
        assert detect() is None
        query["_is_avx512_bf16_supported"] = True
        assert detect() == "AVX512-BF16"
        query["_is_amx_tile_supported"] = True
        assert detect() == "AMX-BF16"
        # a torch without the query: the kernel's flags decide (AVX2 alone is not native bf16)
        for key in query:
            monkeypatch.delattr(torch.cpu, key)
        for flags, expected in (
            ({"avx2", "avx512f"}, None),
            ({"avx512f", "avx512_bf16"}, "AVX512-BF16"),
            ({"amx_tile", "amx_bf16", "avx512_bf16"}, "AMX-BF16"),
        ):
            monkeypatch.setattr(dev, "_proc_cpu_flags", lambda flags=flags: flags)
            assert detect() == expected
        monkeypatch.setattr(dev.platform, "machine", lambda: "aarch64")  # not measured there: fp32 by default
        assert detect() is None
    finally:
        monkeypatch.undo()
        dev.cpu_bf16_feature.cache_clear()


def test_the_first_line_says_the_choice_and_why(cpu_bf16, no_cuda, tmp_path):
    for feature, expected in (
        (
            "AVX512-BF16",
            "cpu (1 thread), bf16 autocast, channels-last (this CPU has AVX512-BF16; --precision fp32 for fp32)",
        ),
        (None, "cpu (1 thread), fp32 ->"),
    ):
        cpu_bf16(feature)
        lines: list[str] = []
        cfg = TrainConfig(epochs=1, max_steps=1, threads=1, output=str(tmp_path / str(feature)))
        Trainer(_net(), _batches(1), None, cfg, log=lines.append).fit()
        assert lines[0].startswith("training sequential for epochs 1..1") and expected in lines[0], lines[0]
    cpu_bf16("AVX512-BF16")
    lines = []
    cfg = TrainConfig(epochs=1, max_steps=1, threads=1, precision="fp32", output=str(tmp_path / "asked"))
    Trainer(_net(), _batches(1), None, cfg, log=lines.append).fit()
    assert "cpu (1 thread), fp32 ->" in lines[0], lines[0]


def test_bn_statistics_loss_and_optimiser_state_stay_fp32_under_bf16(tmp_path):
    # the loss: CrossEntropyLoss is on autocast's fp32 list, whatever the logits' dtype
    model = _net()
    x, y = _batches(1)[0]
    with dev.autocast(CPU, "bf16"):
        out = model(x)
        loss = googlenet_loss(out, y, nn.CrossEntropyLoss(), 0.3)
    assert out.dtype == torch.bfloat16 and loss.dtype == torch.float32
    # a run: weights, BN statistics and momentum buffers are fp32, and near the fp32 run's
    runs = {}
    for precision in ("fp32", "bf16"):
        cfg = TrainConfig(
            epochs=1,
            threads=1,
            precision=precision,
            lr=0.01,
            channels_last=precision == "bf16",
            verbose=False,
            output=str(tmp_path / precision),
        )
        trainer = Trainer(_net(), _batches(), None, cfg)
        trainer.fit()
        runs[precision] = trainer
    bf16, fp32 = runs["bf16"], runs["fp32"]
    bn_bf16, bn_fp32 = bf16.model[1], fp32.model[1]
    assert bn_bf16.running_mean.dtype == bn_bf16.running_var.dtype == torch.float32
    assert int(bn_bf16.num_batches_tracked) == 3
    assert torch.allclose(bn_bf16.running_mean, bn_fp32.running_mean, rtol=0.05, atol=0.01)
    assert torch.allclose(bn_bf16.running_var, bn_fp32.running_var, rtol=0.05, atol=0.01)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    buffers = [s["momentum_buffer"] for s in bf16.optimizer.state.values()]
    assert len(buffers) == len(list(bf16.model.parameters())) and all(b.dtype == torch.float32 for b in buffers)
    for a, b in zip(bf16.model.parameters(), fp32.model.parameters()):
        assert torch.allclose(a, b, rtol=0.05, atol=0.01)
    assert bf16.history[-1]["train_loss"] == pytest.approx(fp32.history[-1]["train_loss"], rel=0.02)


@pytest.mark.parametrize("name, size", [("lenet5", 32), ("resnet20", 32), ("mobilenet_v2", 32)])
def test_bf16_outputs_are_close_to_fp32s(name, size):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=10).eval()
    chans = cnnzoo.model_info(name)["input_size"][0]
    x = torch.randn(2, chans, size, size)
    with torch.no_grad():
        ref = model(x)
        lowp = copy.deepcopy(model).to(memory_format=torch.channels_last)
        with dev.autocast(CPU, "bf16"):
            out = lowp(x.contiguous(memory_format=torch.channels_last))
    assert out.dtype == torch.bfloat16
    # bf16 keeps 8 bits of mantissa (relative error 2^-9 per rounding); errors add up over the layers
    err = (out.float() - ref).abs().max() / ref.abs().max()
    assert err < 0.05, f"{name}: max error {err:.3g} of the largest logit"
    assert (out.float().argmax(1) == ref.argmax(1)).float().mean() >= 0.5
