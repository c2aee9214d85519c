"""The CUDA branches, reached on the CPU: torch.cuda is monkeypatched (availability, bf16, device count
and name), so what a GPU run decides is checked on any host; tests/training/test_cuda.py runs the real thing.

Device resolution, the precision policy (bf16, else fp16 with gradient scaling), autocast, the fused
optimiser, pinned memory, channels-last and cuDNN autotuning defaults, NCCL, the CUDA RNG states, and
honest timing (the device is synchronised before the clock stops, and never per step).
"""

from __future__ import annotations

import contextlib
import importlib
import types

import pytest
import torch
from helpers import random_image_folder
from torch import nn

import cnnzoo
import cnnzoo.training.distributed as distributed
import cnnzoo.training.trainer
from cnnzoo import device as dev
from cnnzoo.data import build_data, default_workers
from cnnzoo.errors import DeviceError, InvalidArgumentError
from cnnzoo.training import Trainer, build_optimizer
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.distributed import DistInfo
from cnnzoo.training.outputs import load_checkpoint
from cnnzoo.training.seeding import get_rng_state, set_rng_state
from cnnzoo.training.setup import Runtime, resolve_runtime

CPU = torch.device("cpu")
CUDA0, CUDA1 = torch.device("cuda", 0), torch.device("cuda", 1)


@pytest.fixture
def fake_cuda(monkeypatch):
    """``fake_cuda(count=1, bf16=True, name=...)``: torch.cuda says it has ``count`` such GPUs."""

    def install(count: int = 1, bf16: bool = True, name: str = "NVIDIA H200") -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: name)

    # the flags a CUDA run sets are process-wide: put them back after the test
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    flags = [(cudnn, f, getattr(cudnn, f)) for f in ("benchmark", "deterministic", "allow_tf32")]
    flags.append((matmul, "allow_tf32", matmul.allow_tf32))
    yield install
    for owner, name, value in flags:
        setattr(owner, name, value)


def test_device_resolution(fake_cuda):
    fake_cuda(count=0)
    assert dev.resolve_device("auto") == CPU and dev.resolve_device("cpu") == CPU
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="needs CUDA.*use --device cpu or auto"):
            dev.resolve_device(spec)
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        dev.resolve_device("gpu")
    fake_cuda(count=2)
    assert dev.resolve_device("auto") == CUDA0 and dev.resolve_device("cpu") == CPU
    # under torchrun each process takes the GPU of its local rank
    assert dev.resolve_device("auto", local_rank=1) == CUDA1 and dev.resolve_device("cuda", local_rank=1) == CUDA1
    assert dev.resolve_device("cuda:1") == CUDA1
    with pytest.raises(DeviceError, match="has 2 CUDA device"):
        dev.resolve_device("cuda:2")


def test_precision_policy(fake_cuda, monkeypatch):
    monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: None)  # a CPU without native bf16
    fake_cuda(bf16=True)
    assert [dev.resolve_precision(p, CUDA0) for p in ("auto", "bf16", "fp16", "fp32")] == [
        "bf16",
        "bf16",
        "fp16",
        "fp32",
    ]
    fake_cuda(bf16=False, name="Tesla V100-SXM2-16GB")  # Volta: fp16 tensor cores, no bf16
    assert dev.resolve_precision("auto", CUDA0) == "fp16"
    with pytest.raises(DeviceError, match="Tesla V100-SXM2-16GB has no bf16; use --precision fp16 or fp32"):
        dev.resolve_precision("bf16", CUDA0)
    assert [dev.resolve_precision(p, CPU) for p in ("auto", "bf16", "fp32")] == ["fp32", "bf16", "fp32"]
    with pytest.raises(DeviceError, match="fp16 needs CUDA"):
        dev.resolve_precision("fp16", CPU)
    with pytest.raises(InvalidArgumentError, match="resolve_precision: precision must be one of 'auto', 'fp32'"):
        dev.resolve_precision("int8", CPU)


def test_autocast_contexts(fake_cuda):
    fake_cuda()
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        ctx = dev.autocast(CUDA0, precision)  # made, not entered: nothing runs on the fake GPU
        assert isinstance(ctx, torch.autocast) and (ctx.device, ctx.fast_dtype) == ("cuda", dtype)
    assert isinstance(dev.autocast(CUDA0, "fp32"), contextlib.nullcontext)
    ctx = dev.autocast(CPU, "bf16")
    assert (ctx.device, ctx.fast_dtype) == ("cpu", torch.bfloat16)


def test_synchronize_waits_for_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: calls.append(d))
    dev.synchronize(CPU)
    dev.synchronize(CUDA1)
    assert calls == [CUDA1]


def test_runtime_defaults_on_a_gpu(fake_cuda, monkeypatch):
    monkeypatch.setattr(dev, "cpu_bf16_feature", lambda: None)  # a CPU without native bf16
    fake_cuda()
    torch.backends.cudnn.benchmark = False
    rt = resolve_runtime(TrainConfig(verbose=False))
    assert (rt.device, rt.precision, rt.channels_last) == (CUDA0, "bf16", True)
    rt = resolve_runtime(TrainConfig(deterministic=True, channels_last=False, precision="fp32"))
    assert (rt.precision, rt.channels_last, torch.backends.cudnn.benchmark) == ("fp32", False, False)
    fake_cuda(bf16=False)
    assert resolve_runtime(TrainConfig()).precision == "fp16"
    fake_cuda(count=0)
    torch.backends.cudnn.benchmark = False
    rt = resolve_runtime(TrainConfig())
    assert (rt.device, rt.precision, rt.channels_last, torch.backends.cudnn.benchmark) == (CPU, "fp32", False, False)


# ---------------------------------------------------------------- optimiser and gradient scaling
def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_fused_optimiser_on_cuda(optimizer):
    cfg = TrainConfig(optimizer=optimizer)
    # one kernel per step for all parameters on a GPU (the parameters may stay on the CPU: fused
    # kernels exist there too, so the choice itself is what is checked)
    assert build_optimizer(_net(), cfg, CUDA0).defaults["fused"] is True
    on_cpu = build_optimizer(_net(), cfg, CPU).defaults
    assert not on_cpu.get("fused") and not on_cpu.get("foreach")


def test_fused_optimiser_falls_back_to_foreach(monkeypatch):
    class NoFusedSGD(torch.optim.SGD):
        def __init__(self, params, fused=None, **kwargs):
            if fused:
                raise RuntimeError(
                    "fused=True requires all the params to be floating point Tensors of supported devices"
                )
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", NoFusedSGD)
    opt = build_optimizer(_net(), TrainConfig(), CUDA0)
    assert isinstance(opt, NoFusedSGD) and opt.defaults["foreach"] is True


def _digits(batch_size: int = 16):
    b = build_data("digits", image_size=8, in_chans=1, batch_size=batch_size, workers=0, device=CPU, seed=0)
    return b.train_loader, b.val_loader


# a skipped step is by design: the scheduler steps on (as torchvision's and timm's loops do)
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before:UserWarning")
def test_fp16_with_gradient_scaling_skips_an_overflowing_step(tmp_path):
    # the fp16 path of a GPU without bf16, run on the CPU (fp16 autocast and GradScaler("cpu") exist there)
    torch.manual_seed(0)
    model = _net()
    p = model[3].weight
    boost = {"on": True}
    p.register_hook(lambda g: g * float("inf") if boost["on"] else g)  # step 1's gradient overflows
    seen, weights = [], []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))

    def on_step(trainer):
        weights.append((p.detach().clone(), trainer.scaler.get_scale()))
        boost["on"] = False

    train, val = _digits()
    cfg = TrainConfig(epochs=1, limit_batches=3, clip_grad=1.0, log_every=1, verbose=False, output=str(tmp_path))
    initial = p.detach().clone()
    trainer = Trainer(model, train, val, cfg, runtime=Runtime(DistInfo(), CPU, "fp16", False), on_step=on_step)
    assert isinstance(trainer.scaler, torch.amp.GradScaler) and trainer.scaler.is_enabled()
    trainer.fit()
    assert seen[0] == torch.float16
    (w1, s1), (w2, s2), _ = weights
    assert torch.equal(w1, initial) and s1 == 2.0**15  # skipped, and the scale halved (from 2**16)
    assert not torch.equal(w2, w1) and s2 == s1  # a finite step is taken
    state = load_checkpoint(tmp_path / "last.pt")["scaler"]
    assert state["scale"] == trainer.scaler.get_scale()
    resumed = Trainer(_net(), train, val, cfg, runtime=Runtime(DistInfo(), CPU, "fp16", False))
    resumed.load_state(load_checkpoint(tmp_path / "last.pt"))
    assert resumed.scaler.state_dict() == trainer.scaler.state_dict()
    bf16 = Trainer(_net(), train, val, cfg, runtime=Runtime(DistInfo(), CPU, "bf16", False))
    assert bf16.scaler is None  # bf16 has fp32's exponent range: nothing to scale


# ---------------------------------------------------------------- data loading
@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_pinned_memory_and_workers_on_a_gpu(monkeypatch, tmp_path):
    for device, pinned in ((CUDA0, True), (CPU, False)):
        loader = build_data("digits", image_size=8, in_chans=1, batch_size=4, workers=0, device=device).train_loader
        assert loader.pin_memory is pinned  # a loader object only: nothing is copied to the fake GPU
    root = random_image_folder(tmp_path, per_class=1, png_every=99)
    encoded = build_data(str(root), image_size=8, in_chans=3, batch_size=1, workers=0, device=CUDA0, decode="gpu")
    assert encoded.train_loader.pin_memory is False  # files of any size for nvJPEG: not worth pinning
    monkeypatch.setattr("cnnzoo.data.loaders.cpu_count", lambda: 16)
    assert default_workers("imagefolder", CUDA0) == 15  # every core but the one driving the GPU
    assert default_workers("imagefolder", CUDA0, world_size=8) == 1
    assert default_workers("imagefolder", CPU) == 4 and default_workers("digits", CUDA0) == 0


def test_nccl_on_gpus_and_gloo_on_cpus(fake_cuda, monkeypatch):
    fake_cuda(count=2)
    calls = []
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: calls.append(("init", kw)))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(k, v)
    assert distributed.setup_distributed("auto") == DistInfo(1, 2, 1, initialized_here=True)
    # (the timeout and the restart's own store, also passed, are the elastic tests' concern)
    chosen = [
        (what, {k: v for k, v in arg.items() if k in ("backend", "rank", "world_size")})
        if what == "init"
        else (what, arg)
        for what, arg in calls
    ]
    assert chosen == [("set_device", 1), ("init", {"backend": "nccl", "rank": 1, "world_size": 2})]
    calls.clear()
    distributed.setup_distributed("cpu")
    assert [(what, {k: arg[k] for k in ("backend", "rank", "world_size")}) for what, arg in calls] == [
        ("init", {"backend": "gloo", "rank": 1, "world_size": 2})
    ]


def test_rng_state_keeps_the_cuda_generators(fake_cuda, monkeypatch):
    fake_cuda(count=1)
    cuda_state = [torch.arange(16, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: restored.append(s))
    state = get_rng_state()
    assert state["cuda"] is cuda_state
    set_rng_state(state)
    assert restored == [cuda_state]
    fake_cuda(count=2)  # a checkpoint of another machine's GPUs: the CUDA states are not forced onto these
    set_rng_state(state)
    assert restored == [cuda_state]


# ---------------------------------------------------------------- honest timing
def _recording_clock(monkeypatch, module, events):
    import time

    real = time.perf_counter
    # (monotonic is the save-every-minutes clock, not the epoch's: it is not recorded)
    clock = types.SimpleNamespace(perf_counter=lambda: events.append("clock") or real(), monotonic=time.monotonic)
    monkeypatch.setattr(module, "synchronize", lambda d: events.append("sync"))
    monkeypatch.setattr(module, "time", clock)


def test_epoch_clock_stops_after_a_device_sync_and_no_step_waits(monkeypatch, tmp_path):
    events: list[str] = []
    module = cnnzoo.training.trainer
    _recording_clock(monkeypatch, module, events)
    train, val = _digits()
    cfg = TrainConfig(epochs=2, limit_batches=4, log_every=1000, verbose=False, device="cpu", output=str(tmp_path))
    Trainer(_net(), train, val, cfg, on_step=lambda t: events.append("step")).fit()
    steps_and_syncs = [e for e in events if e != "clock"]
    assert steps_and_syncs == ["step"] * 4 + ["sync"] + ["step"] * 4 + ["sync"]  # one per epoch, none per step
    for i, e in enumerate(events):
        if e == "sync":
            assert events[i + 1] == "clock"  # the epoch's time is read once its work is done


def test_benchmark_reads_its_clock_only_after_a_sync(monkeypatch):
    events: list[str] = []
    module = importlib.import_module("cnnzoo.apps.benchmark")  # cnnzoo.apps exports a function of this name
    _recording_clock(monkeypatch, module, events)
    create = module.create_model

    def traced(name, **kw):
        model = create(name, **kw)
        model.register_forward_pre_hook(lambda m, a: events.append("work"))
        return model

    monkeypatch.setattr(module, "create_model", traced)
    cnnzoo.benchmark("lenet5", device="cpu", batch_size=2, warmup=1, repeats=2, train=True, threads=1)
    assert events.count("clock") >= 8  # (inference + training) x 2 repeats x (start, stop)
    last = None
    for e in events:
        if e == "clock":
            assert last in (None, "sync", "clock"), events  # no work between the last sync and a clock read
        last = e
