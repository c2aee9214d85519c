"""Speed and memory of the registered models: images/s, latency and peak memory, side by side.

Each model is timed after warm-up, with the device synchronised before every clock read,
and the median over the timed runs is reported; peak memory is CUDA's
``max_memory_allocated`` or, on a Linux CPU, the growth of the resident set. Device and
precision are resolved as the trainer resolves them (:mod:`cnnzoo.device`).

Achieved GFLOP/s (hardware FLOPs: a multiply-add is two, as ``torch.utils.flop_counter``
counts them) are set against the machine's measured peak: the rate of a large square
matmul in the same precision, on the same device and threads, in the same run. A matmul is
the most efficient kernel a network is made of, so the fraction is the distance to what
this machine can do, on a CPU or a GPU alike.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from ..analysis.flops import count_flops
from ..device import auto_cpu_threads, autocast, resolve_device, resolve_precision, synchronize
from ..factory import create_model
from ..limits import check_input_size
from ..models.arguments import Count, Whole, checked
from ..models.base import googlenet_loss
from ..models.registry import get_model_entry
from .arguments import Options
from .chart import published_top1
from .compare import models_matching

__all__ = ["benchmark", "matmul_peak"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class _PeakMemory:
    """Peak memory of a block: CUDA's max_memory_allocated, or the peak RSS growth on Linux.

    On the CPU the kernel's high-water mark (VmHWM) is reset through /proc/self/clear_refs
    and read afterwards: the growth of the resident set over its size at the start (after
    returning freed heap pages with malloc_trim). It counts only new pages, so memory the
    process already held and reuses is not in it: a lower bound. None where neither works.
    """

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev
        self.kind: str | None = None
        self.base = 0
        self.peak_mb: float | None = None

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise OSError(key)

    def __enter__(self) -> _PeakMemory:
        if self.dev.type == "cuda":
            synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            self.kind = "cuda_max_memory_allocated"
        else:
            gc.collect()
            with contextlib.suppress(OSError, AttributeError):
                # give freed heap pages back to the kernel (glibc), so that memory an earlier
                # model left behind does not hide this one's growth
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # reset VmHWM to the current RSS
                self.base = self._status("VmRSS:")
                self.kind = "cpu_peak_rss_growth"
            except OSError:
                self.kind = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind == "cuda_max_memory_allocated":
            synchronize(self.dev)
            self.peak_mb = torch.cuda.max_memory_allocated(self.dev) / 2**20
        elif self.kind == "cpu_peak_rss_growth":
            self.peak_mb = max(0, self._status("VmHWM:") - self.base) / 2**20


def _timed(fn: Callable[[], Any], dev: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs, synchronised."""
    for _ in range(warmup):
        fn()
    synchronize(dev)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        synchronize(dev)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak(dev: torch.device, precision: str, size: int | None = None) -> dict[str, Any]:
    """The best GFLOP/s of an ``n x n`` matmul in ``precision`` (fp32, bf16, fp16) on ``dev``.

    ``n`` defaults to 8192 on CUDA and 1024 on a CPU (large enough for the BLAS to reach
    its rate, small enough to cost well under a second where the precision is native).
    The best of a few runs, not the median: a peak is what the hardware can reach.
    fp32 on CUDA follows ``torch.backends.cuda.matmul.allow_tf32``, as the model's do.
    """
    n = size or (8192 if dev.type == "cuda" else 1024)
    g = torch.Generator(device="cpu").manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device=dev, dtype=_DTYPES[precision]) for _ in range(2))
    a @ b  # warm-up: the BLAS's first call sets up its buffers and kernels
    synchronize(dev)
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 3 or (spent < 0.5 and runs < 20):  # at least 3 runs, more while they are quick
        t0 = time.perf_counter()
        a @ b
        synchronize(dev)
        seconds = time.perf_counter() - t0
        best, spent, runs = min(best, seconds), spent + seconds, runs + 1
    return {"peak_gflops_per_s": 2 * n**3 / best / 1e9, "peak_kind": f"{n}x{n} matmul, {precision}"}


@checked
def benchmark(
    models: str | Sequence[str] = "*",
    *,
    device: str = "auto",
    batch_size: Count | None = None,
    precision: Literal["fp32", "bf16", "fp16"] = "fp32",  # named: a benchmark says what it measured
    channels_last: bool = False,
    compile: bool = False,
    train: bool = False,
    warmup: Whole = 2,
    repeats: Count = 10,
    input_size: Sequence[int] | None = None,
    timing: bool = True,
    threads: Count | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    model_args: Options | None = None,
) -> list[dict[str, Any]]:
    """Parameters, GFLOPs, throughput, latency and peak memory of registered models.

    For each model: inference images/s and median batch latency (and with ``train`` the
    median optimiser-step time), after ``warmup`` runs, medians over ``repeats``, with CUDA
    synchronisation; peak memory as described in the result's ``memory_kind``. Random
    weights and inputs (speed does not depend on them). ``timing=False`` gives only the
    counts and the published top-1 (the data of :func:`accuracy_chart`). ``batch_size``
    defaults to 64 on CUDA, 8 on the CPU. On the CPU the timing takes ``threads`` threads
    (default: the cores not busy with other work, as the trainer does). ``model_args`` go to
    every model's constructor (``{"variant": "paper"}``, ``{"width_mult": 0.5}``).

    Each timed row also gives the achieved GFLOP/s (``infer_gflops_per_s``, with ``train``
    ``train_gflops_per_s``) and their fraction of ``peak_gflops_per_s``, a matmul in the
    same precision measured once in this call (:func:`matmul_peak`).
    """
    names = models_matching(models)
    dev = resolve_device(device)
    if batch_size is None:
        batch_size = 64 if dev.type == "cuda" else 8
    resolved = resolve_precision(precision, dev)  # one the device cannot run is refused before building anything
    if input_size is not None:
        check_input_size(input_size)
    threads_before = torch.get_num_threads()
    if dev.type == "cpu" and timing:
        torch.set_num_threads(threads or auto_cpu_threads())
    try:
        return _benchmark(
            names,
            dev,
            batch_size,
            resolved,
            channels_last,
            compile,
            train,
            warmup,
            repeats,
            input_size,
            timing,
            progress,
            dict(model_args or {}),
        )
    finally:
        torch.set_num_threads(threads_before)


def _benchmark(
    names: list[str],
    dev: torch.device,
    batch_size: int,
    precision: str,
    channels_last: bool,
    compile: bool,
    train: bool,
    warmup: int,
    repeats: int,
    input_size: Sequence[int] | None,
    timing: bool,
    progress: Callable[[dict[str, Any]], None] | None,
    model_args: dict[str, Any],
) -> list[dict[str, Any]]:
    top1 = published_top1()
    peak = matmul_peak(dev, precision) if timing else None
    results = []
    for name in names:
        info = get_model_entry(name)
        size = tuple(input_size) if input_size else info.input_size
        with torch.device("meta"):
            meta = create_model(name, **model_args)
        row: dict[str, Any] = {
            "model": name,
            "family": info.family,
            "params": sum(p.numel() for p in meta.parameters()),
            "gflops": count_flops(meta, size).gflops,
            "input_size": list(size),
            "top1": top1.get(name, (None, None))[0],
            "device": str(dev),
            "threads": torch.get_num_threads() if dev.type == "cpu" else None,
            "batch_size": batch_size,
            "precision": precision,
            "channels_last": channels_last,
            "compile": compile,
            "warmup": warmup,
            "repeats": repeats,
        }
        if model_args:
            row["model_args"] = dict(model_args)
        del meta
        if timing:
            assert peak is not None
            try:
                row.update(
                    _time_model(
                        name,
                        size,
                        dev,
                        batch_size,
                        precision,
                        channels_last,
                        compile,
                        train,
                        warmup,
                        repeats,
                        model_args,
                    )
                )
            finally:
                _release(dev)
            row.update(peak)
            # hardware FLOPs (2 x MACs) per second, against the matmul's rate in the same precision
            row["infer_gflops_per_s"] = 2 * row["gflops"] * row["infer_images_per_s"]
            row["infer_peak_fraction"] = row["infer_gflops_per_s"] / peak["peak_gflops_per_s"]
            if train:
                # a step is 3 forwards' FLOPs: the backward computes a gradient for the input and one for the
                # weights, each a product of the forward's size (Kaplan et al. 2020, Sec. 2.1).
                # FlopCounterMode's count of the backward is not used: it charges a grouped convolution's
                # weight gradient `groups` times (65x the forward for a 64-channel depthwise 3x3)
                row["train_gflops_per_s"] = 3 * 2 * row["gflops"] * row["train_images_per_s"]
                row["train_peak_fraction"] = row["train_gflops_per_s"] / peak["peak_gflops_per_s"]
        results.append(row)
        if progress is not None:
            progress(row)
    return results


def _time_model(
    name: str,
    size: tuple[int, ...],
    dev: torch.device,
    batch_size: int,
    precision: str,
    channels_last: bool,
    compile: bool,
    train: bool,
    warmup: int,
    repeats: int,
    model_args: dict[str, Any],
) -> dict[str, Any]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model(name, **model_args).to(dev).to(memory_format=fmt)
    x = torch.randn(batch_size, *size, device=dev).contiguous(memory_format=fmt)
    if compile:
        # every network shares ZooModel.forward; Dynamo allows 8 recompiles per code object,
        # after which it silently runs eagerly: each model starts from a clean cache
        torch.compiler.reset()
    fn = torch.compile(model) if compile else model
    out: dict[str, Any] = {}
    model.eval()
    with _PeakMemory(dev) as mem, torch.inference_mode(), autocast(dev, precision):
        seconds = _timed(lambda: fn(x), dev, warmup, repeats)
    out.update(
        infer_latency_ms=seconds * 1e3,
        infer_images_per_s=batch_size / seconds,
        peak_memory_mb=mem.peak_mb,
        memory_kind=mem.kind,
    )
    if train:
        model.train()
        target = torch.randint(0, int(getattr(model, "num_classes")), (batch_size,), device=dev)  # noqa: B009
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with autocast(dev, precision):
                loss = googlenet_loss(fn(x), target)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

        with _PeakMemory(dev) as mem:
            seconds = _timed(step, dev, warmup, repeats)
        out.update(
            train_step_ms=seconds * 1e3, train_images_per_s=batch_size / seconds, train_peak_memory_mb=mem.peak_mb
        )
    return out


def _release(dev: torch.device) -> None:
    """Give the last model's memory back before the next one is measured."""
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
