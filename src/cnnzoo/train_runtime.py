"""Where a run executes: device, precision, processes (DDP), seeds and RNG states.

Small helpers around the one training loop in :mod:`cnnzoo.trainer`, so that the loop
itself does not branch on the hardware. Several processes are started by ``torchrun``,
found here through the environment variables it sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``).
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .errors import DeviceError

__all__ = ["DistInfo", "setup_distributed", "resolve_device", "resolve_precision", "autocast",
           "seed_everything", "get_rng_state", "set_rng_state", "all_reduce_sum", "barrier",
           "cpu_count", "auto_cpu_threads", "default_workers"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place among the processes of a run (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise DeviceError(f"environment variable {name}={value!r} is not an integer") from None


def setup_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (idempotent); one process otherwise.

    NCCL on CUDA, gloo on the CPU. The process group is created here only when
    ``WORLD_SIZE`` > 1 and none exists yet (``initialized_here`` tells the caller to
    destroy it at the end).
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was given but CUDA is not available; use --device cpu")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if use_cuda else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, initialized_here=True)


def resolve_device(spec: str, info: DistInfo) -> torch.device:
    """``auto`` is CUDA when present; several processes each take ``cuda:LOCAL_RANK``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec} needs CUDA, which this machine does not have "
                          "(torch.cuda.is_available() is False); use --device cpu or auto")
    index = info.local_rank if spec == "cuda" else int(spec.split(":")[1])
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def resolve_precision(spec: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA that supports it, else fp16; fp32 on the CPU."""
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
    """The autocast context of a precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, deterministic: bool, device: torch.device) -> None:
    """Seed python, numpy and torch; with ``deterministic``, only deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this set before its first use to be deterministic (CUDA docs, "Reproducibility")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = deterministic
        # autotuning picks the fastest kernel per shape, which may differ run to run
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic


def get_rng_state() -> dict[str, Any]:
    """Every RNG state as tensors and plain lists (storable with ``weights_only`` loading)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states of :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``t`` over the processes (in place; returns it); the identity for one process."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def auto_cpu_threads(world_size: int = 1) -> int:
    """Threads for CPU training: the cores not already busy (1-minute load average), >= 1.

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


def default_workers(kind: str, device: torch.device, world_size: int = 1) -> int:
    """DataLoader workers per process for a data kind (``cnnzoo.data`` spec kinds)."""
    if kind in ("digits", "synthetic"):  # already tensors in memory (or on the device)
        return 0
    cpus = max(1, cpu_count() // world_size)
    # on a GPU the workers feed it; on a CPU they compete with the training itself
    return min(8, cpus) if device.type == "cuda" else min(4, cpus // 2)
