"""The real thing on a GPU (every test here is marked ``cuda`` and skipped, saying why, without one).

tests/training/test_device.py reaches the same CUDA branches on the CPU with torch.cuda monkeypatched;
these run them: bf16 + channels-last + fused SGD with no host-device sync in the hot loop, fp16
with gradient scaling, pinned uint8 batches normalised on the GPU one batch ahead, nvJPEG
decoding, and a deterministic resume. ``benchmarks/gpu_check.sh`` runs them first.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo import data
from cnnzoo.training.outputs import load_checkpoint
from cnnzoo.training.setup import resolve_runtime

pytestmark = [pytest.mark.cuda, pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")]
GPU = torch.device("cuda", 0)


@pytest.fixture(autouse=True)
def _restore_cuda_flags():
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32)
    yield
    cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32 = saved
    torch.cuda.set_sync_debug_mode("default")


def _smooth_folder(root, classes=2, per_class=4, seed=0):
    """JPEGs of smooth random colour fields, 40-72 px a side (realistic for decoders, unlike noise)."""
    from torchvision.io import encode_jpeg

    g = torch.Generator().manual_seed(seed)
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True)
            for i in range(per_class):
                h, w = torch.randint(40, 73, (2,), generator=g).tolist()
                field = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(h, w), mode="bicubic")[0]
                img = field.clamp(0, 1).mul(255).round().to(torch.uint8)
                (d / f"{i}.jpg").write_bytes(encode_jpeg(img, quality=90).numpy().tobytes())
    return root


class _NoSyncWindow:
    """An ``on_step`` hook: from step ``start`` to step ``stop`` any implicit host-device sync raises."""

    def __init__(self, start: int = 1, stop: int = 3) -> None:
        self.start, self.stop, self.seen = start, stop, []

    def __call__(self, trainer) -> None:
        if trainer.step == self.start:  # after the first step: cuDNN autotuning and lazy set-up may wait
            torch.cuda.set_sync_debug_mode("error")
            self.seen.append(trainer)
        elif trainer.step == self.stop:
            torch.cuda.set_sync_debug_mode("default")


def test_runtime_resolves_to_the_gpu():
    rt = resolve_runtime(cnnzoo.TrainConfig())
    assert rt.device.type == "cuda" and rt.channels_last
    assert rt.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")


def test_training_on_the_gpu_never_waits_for_it_between_reads(tmp_path):
    root = _smooth_folder(tmp_path / "imgs", classes=4, per_class=8)
    window = _NoSyncWindow()
    inputs = []
    res = cnnzoo.train(
        "resnet18",
        data=str(root),
        input_size=32,
        batch_size=8,
        epochs=2,
        workers=2,
        device="cuda",
        mixup=0.2,
        label_smoothing=0.1,
        ema=True,
        clip_grad=1.0,
        log_every=1000,
        verbose=False,
        output=str(tmp_path / "run"),
        on_step=window,
    )
    assert res.epochs == 2 and torch.isfinite(torch.tensor(res.history[-1]["train_loss"]))
    (trainer,) = window.seen
    assert trainer.precision in ("bf16", "fp16") and trainer.channels_last
    assert trainer.optimizer.defaults["fused"] is True  # one kernel per step for all parameters
    assert data.reads_ahead(trainer.train_loader, trainer.device)  # workers: the next batch is copied ahead
    assert trainer.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.ema.module.conv1.register_forward_pre_hook(lambda m, a: inputs.append(a[0]))
    trainer.evaluate()  # of the EMA weights
    x = inputs[0]
    assert x.device.type == "cuda" and x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)


def test_fp16_gradient_scaling_on_the_gpu(tmp_path):
    window = _NoSyncWindow()  # fused SGD takes GradScaler's found-inf flag on the GPU: no .item() per step
    res = cnnzoo.train(
        "resnet18",
        data="synthetic:64",
        input_size=32,
        batch_size=16,
        epochs=1,
        precision="fp16",
        device="cuda",
        log_every=1000,
        clip_grad=1.0,
        verbose=False,
        output=str(tmp_path),
        on_step=window,
    )
    (trainer,) = window.seen
    assert isinstance(trainer.scaler, torch.amp.GradScaler) and trainer.scaler.is_enabled()
    assert torch.isfinite(torch.tensor(res.history[0]["train_loss"]))
    assert load_checkpoint(tmp_path / "last.pt")["scaler"]["scale"] == trainer.scaler.get_scale()


def test_pinned_uint8_batches_are_normalised_on_the_gpu_one_ahead(tmp_path):
    root = _smooth_folder(tmp_path)
    bundle = data.build_data(str(root), image_size=32, in_chans=3, batch_size=4, workers=2, device=GPU)
    loader = bundle.val_loader
    raw = list(loader)
    assert all(x.dtype == torch.uint8 and x.is_pinned() and y.is_pinned() for x, y in raw)
    transform = data.device_transform(loader)
    fed = list(data.feed(iter(raw), GPU, transform, channels_last=True, ahead=True))
    assert len(fed) == len(raw)
    for (x, y), (xg, yg) in zip(raw, fed):
        assert xg.is_cuda and xg.dtype == torch.float32 and xg.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(xg.cpu(), transform(x, torch.device("cpu")), rtol=0, atol=1e-6)
        assert torch.equal(yg.cpu(), y)


def test_decoding_on_the_gpu_matches_the_cpu_decoder(tmp_path):
    root = _smooth_folder(tmp_path / "imgs")
    common = dict(image_size=32, in_chans=3, batch_size=4, workers=0, seed=0)
    encoded = data.build_data(str(root), decode="gpu", device=GPU, **common)
    x, _ = next(iter(encoded.val_loader))
    decoder = data.device_transform(encoded.val_loader)
    on_gpu = decoder.decode(x.data, GPU)
    on_cpu = decoder.decode(x.data, torch.device("cpu"))
    for g, c in zip(on_gpu, on_cpu):
        assert g.is_cuda and g.shape == c.shape and g.dtype == torch.uint8
        # nvJPEG and libjpeg-turbo round their IDCT and chroma upsampling differently
        assert (g.cpu().float() - c.float()).abs().mean() < 2.0
    batch = decoder(x, GPU, channels_last=True)
    assert batch.shape == (4, 3, 32, 32) and batch.is_cuda and batch.dtype == torch.float32
    res = cnnzoo.train(
        "resnet18",
        data=str(root),
        decode="gpu",
        input_size=32,
        batch_size=4,
        epochs=1,
        workers=2,
        device="cuda",
        verbose=False,
        output=str(tmp_path / "run"),
    )
    assert torch.isfinite(torch.tensor(res.history[0]["train_loss"]))


def test_deterministic_resume_on_the_gpu_is_bit_exact(tmp_path):
    root = _smooth_folder(tmp_path / "imgs", classes=2, per_class=8)
    run = dict(
        model="resnet18",
        data=str(root),
        input_size=32,
        batch_size=4,
        seed=3,
        deterministic=True,
        workers=2,
        device="cuda",
        verbose=False,
        schedule="step",
        step_size=1,
        gamma=0.5,
        random_erase=0.5,
    )
    full = cnnzoo.train(epochs=2, output=str(tmp_path / "full"), **run)
    cut = cnnzoo.train(epochs=1, output=str(tmp_path / "cut"), **run)
    torch.manual_seed(1234)
    resumed = cnnzoo.train(resume=cut.last_checkpoint, epochs=2, verbose=False)
    a, b = (load_checkpoint(r.last_checkpoint)["model"] for r in (full, resumed))
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []


def test_benchmark_on_the_gpu_reports_cuda_memory():
    (row,) = cnnzoo.benchmark(
        "resnet18",
        device="cuda",
        batch_size=8,
        warmup=1,
        repeats=2,
        train=True,
        precision="bf16" if torch.cuda.is_bf16_supported() else "fp16",
        channels_last=True,
    )
    assert row["memory_kind"] == "cuda_max_memory_allocated"
    assert row["peak_memory_mb"] > 0 and row["train_peak_memory_mb"] > 0
    assert row["infer_images_per_s"] > 0 and row["train_images_per_s"] > 0


@pytest.mark.parametrize("model", ["alexnet_original", "googlenet", "vgg11_lrn"])
def test_deterministic_training_of_pools_and_lrn_on_the_gpu(model):
    # adaptive pools (6x6, 7x7, GoogLeNet's auxiliary 4x4) and LRN have no deterministic CUDA
    # backward in PyTorch; the trainer swaps in cnnzoo.models.deterministic's stand-ins
    run = dict(
        model=model,
        data="synthetic",
        input_size=96 if model == "googlenet" else 64,
        batch_size=4,
        limit_batches=2,
        epochs=1,
        seed=0,
        deterministic=True,
        workers=0,
        device="cuda",
        verbose=False,
        output=None,
    )
    first, second = (cnnzoo.train(**run) for _ in range(2))
    a, b = (load_checkpoint(r.last_checkpoint)["model"] for r in (first, second))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
