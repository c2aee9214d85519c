"""Several processes (DDP under ``torchrun``): who this process is, and reductions across them.

``torchrun`` starts one process per GPU and describes the group in environment variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); one process
without them is rank 0 of 1, and every helper here is then the identity.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed import PrefixStore, Store, TCPStore  # type: ignore[attr-defined]

from ..errors import DeviceError

__all__ = ["DistInfo", "setup_distributed", "all_reduce_sum", "barrier", "gather_objects", "restart_count"]


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


def setup_distributed(device: str = "auto", *, timeout_s: float | None = None) -> DistInfo:
    """Join the process group torchrun describes (idempotent); one process otherwise.

    NCCL on CUDA, gloo on the CPU. The process group is created here only when
    ``WORLD_SIZE`` > 1 and none exists yet (``initialized_here`` tells the caller to
    destroy it at the end). ``timeout_s`` bounds every wait for the other processes (connecting,
    a collective): past it the process stops with an error instead of hanging (torch's default: 30 min).
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
    timeout = datetime.timedelta(seconds=timeout_s) if timeout_s is not None else None
    dist.init_process_group(
        backend=backend, rank=rank, world_size=world, timeout=timeout, store=_restart_store(rank, world, timeout)
    )
    return DistInfo(rank, world, local_rank, initialized_here=True)


def _restart_store(rank: int, world: int, timeout: datetime.timedelta | None) -> Store | None:
    """The rendezvous store of workers that torchrun restarted, with keys of their own (None: torch's default).

    The agent's store outlives its workers, and gloo finds its peers under the same keys in every
    round: a restarted worker could read the address of the process it replaces and wait to connect
    to it until the timeout (seen on torch 2.14). A prefix per restart keeps the rounds apart."""
    restarts = restart_count()
    if not restarts or "MASTER_ADDR" not in os.environ:
        return None
    agent_serves = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    base = TCPStore(
        os.environ["MASTER_ADDR"],
        _env_int("MASTER_PORT", 29500),
        world,
        is_master=rank == 0 and not agent_serves,
        timeout=timeout or datetime.timedelta(minutes=30),
    )
    return PrefixStore(f"cnnzoo/restart-{restarts}", base)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum ``t`` over the processes (in place; returns it); the identity for one process."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """``obj`` of every process, in rank order (on every process); ``[obj]`` for one process.

    Every process must call it: it is also the point where they agree (a checkpoint that
    holds all of them is complete)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def restart_count() -> int:
    """How many times torchrun's elastic agent has restarted this run's workers (0: the first start).

    torchrun sets ``TORCHELASTIC_RESTART_COUNT`` in every worker; outside torchrun it is 0."""
    return _env_int("TORCHELASTIC_RESTART_COUNT", 0)
