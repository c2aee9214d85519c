"""Where work runs: the device, the numeric precision and the CPU threads.

One resolution shared by the trainer, ``cnnzoo eval`` and ``cnnzoo benchmark``, so that
``--device`` and ``--precision`` mean the same everywhere and fail with the same messages.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import typing
from typing import Any, Literal

import torch

from .errors import DeviceError
from .models.arguments import checked

__all__ = [
    "PRECISIONS",
    "DEVICE_SPEC",
    "resolve_device",
    "resolve_precision",
    "default_channels_last",
    "cpu_bf16_feature",
    "describe_precision",
    "autocast",
    "synchronize",
    "cpu_count",
    "auto_cpu_threads",
]

#: the precisions a run or a measurement may name (auto: resolved per device by resolve_precision)
Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
#: the device a run or a measurement may name: auto, cpu, cuda or cuda:N
DEVICE_SPEC = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` as a device; ``auto`` is CUDA when present.

    ``cuda`` without an index is ``cuda:local_rank``: under torchrun each process takes its
    own GPU. A device this machine does not have is a :class:`~cnnzoo.errors.DeviceError`.
    """
    if not isinstance(spec, str) or not DEVICE_SPEC.match(spec):
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    index = local_rank if spec == "cuda" else int(spec.split(":")[1])
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0  # no CUDA: no GPU of any index
    if index >= count:
        raise DeviceError(
            f"--device {spec} needs CUDA GPU {index}, and this machine has {count} CUDA device(s) "
            f"(torch.cuda.is_available() is {count > 0}); use --device cpu or auto"
        )
    return torch.device("cuda", index)


@functools.cache
def cpu_bf16_feature() -> str | None:
    """The instruction set with which this x86 CPU computes bf16 natively, or None.

    ``"AMX-BF16"`` (Intel Sapphire Rapids and later: tile matrix multiplies) or
    ``"AVX512-BF16"`` (Intel Cooper Lake and later, AMD Zen 4 and later: VDPBF16PS dot
    products), as PyTorch's own CPU query (cpuinfo) reports them, else the kernel's
    /proc/cpuinfo flags. Without either, oneDNN's bf16 convolutions and matmuls fall back
    to converting kernels far slower than fp32 (on an AVX2-only EPYC guest, one thread: a
    512x512 matmul at 0.34 GFLOP/s in bf16 against 64 in fp32), so bf16 is only a default
    where the hardware has it. Other architectures answer None: their bf16 kernels are not
    measured here, and ``--precision bf16`` still asks for them.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return None
    try:  # PyTorch's query (the cpuinfo library it uses to choose its own kernels)
        amx = torch.cpu._is_amx_tile_supported()
        avx512 = torch.cpu._is_avx512_bf16_supported()
    except (AttributeError, RuntimeError):  # another torch version, or one built without cpuinfo
        flags = _proc_cpu_flags()
        amx, avx512 = {"amx_tile", "amx_bf16"} <= flags, "avx512_bf16" in flags
    # every AMX processor so far has AMX-BF16, and AVX512-BF16 beside it
    return "AMX-BF16" if amx else "AVX512-BF16" if avx512 else None


def _proc_cpu_flags() -> set[str]:
    """The first processor's flags in /proc/cpuinfo (Linux), or an empty set."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@checked
def resolve_precision(precision: Precision, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``device``; ``auto`` is bf16 on a CUDA GPU that has it
    (else fp16 with gradient scaling), bf16 on a CPU that computes it natively
    (:func:`cpu_bf16_feature`) and fp32 on other CPUs. fp16 needs CUDA."""
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise DeviceError(f"{torch.cuda.get_device_name(device)} has no bf16; use --precision fp16 or fp32")
        return precision
    if precision == "fp16":
        raise DeviceError("fp16 needs CUDA; use bf16 or fp32 on the CPU")
    if precision == "auto":
        return "bf16" if cpu_bf16_feature() is not None else "fp32"
    return precision


def default_channels_last(device: torch.device, precision: str) -> bool:
    """NHWC by default where it is faster: on CUDA (tensor cores), and on a CPU in bf16.

    oneDNN's bf16 convolutions are written for NHWC and reorder NCHW inputs at every layer;
    in fp32 on a CPU channels-last is not faster (ResNet-18, 64 px: 298 ms vs 281 ms a step).
    """
    return device.type == "cuda" or precision == "bf16"


def describe_precision(device: torch.device, spec: str, precision: str, channels_last: bool) -> str:
    """The precision of a run, for its first line; where ``auto`` chose bf16 on a CPU, also why
    and how to go back to fp32 (fp32 on a CPU without native bf16 reads as it always has)."""
    text = precision + (" autocast" if precision != "fp32" else "") + (", channels-last" if channels_last else "")
    feature = cpu_bf16_feature() if device.type == "cpu" and spec == "auto" and precision == "bf16" else None
    return f"{text} (this CPU has {feature}; --precision fp32 for fp32)" if feature else text


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a clock read before this times the queueing only)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_cpu_threads(world_size: int = 1) -> int:
    """Threads for CPU work: the cores not already busy (1-minute load average), >= 1.

    OpenMP threads spin while they wait for each other; on an oversubscribed machine (a
    shared server, a CI runner) a thread per core then runs 10-20x slower than one thread,
    so a run takes only the cores that are idle. Never more than PyTorch's own default.
    """
    default = torch.get_num_threads()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return default
    idle = cpu_count() - int(load + 0.5)
    return max(1, min(default, idle // max(1, world_size)))
