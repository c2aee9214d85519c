"""Where work runs: the device, the numeric precision and the CPU threads.

One resolution shared by the trainer, ``cnnzoo eval`` and ``cnnzoo benchmark``, so that
``--device`` and ``--precision`` mean the same everywhere and fail with the same messages.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import torch

from .errors import DeviceError

__all__ = ["PRECISIONS", "DEVICE_SPEC", "resolve_device", "resolve_precision", "autocast", "synchronize", "cpu_count",
           "auto_cpu_threads"]

#: the precisions a run or a measurement may name (auto: resolved per device by resolve_precision)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
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
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec} needs CUDA, which this machine does not have "
                          "(torch.cuda.is_available() is False); use --device cpu or auto")
    index = local_rank if spec == "cuda" else int(spec.split(":")[1])
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def resolve_precision(spec: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``device``; ``auto`` is bf16 on a CUDA GPU that has it
    (else fp16 with gradient scaling) and fp32 on the CPU. fp16 needs CUDA."""
    if spec not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}; got {spec!r}")
    if device.type == "cuda":
        if spec == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if spec == "bf16" and not torch.cuda.is_bf16_supported():
            raise DeviceError(f"{torch.cuda.get_device_name(device)} has no bf16; use --precision fp16 or fp32")
        return spec
    if spec == "fp16":
        raise DeviceError("fp16 needs CUDA; use bf16 or fp32 on the CPU")
    return "fp32" if spec == "auto" else spec


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
