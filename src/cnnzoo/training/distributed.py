"""Several processes (DDP under ``torchrun``): who this process is, and reductions across them.

``torchrun`` starts one process per GPU and describes the group in environment variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); one process
without them is rank 0 of 1, and every helper here is then the identity.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed import PrefixStore, Store, TCPStore  # type: ignore[attr-defined]

from ..device import resolve_device
from ..errors import ConfigError, DeviceError

__all__ = [
    "DistInfo",
    "setup_distributed",
    "check_same_settings",
    "all_reduce_sum",
    "barrier",
    "gather_objects",
    "restart_count",
    "elastic_run_id",
    "continuation",
]


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
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise DeviceError(
            f"WORLD_SIZE={world} asks for {world} processes, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: start the processes with torchrun (it sets RANK, "
            "WORLD_SIZE, MASTER_ADDR and MASTER_PORT), or set all four; unset WORLD_SIZE for one process"
        )
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = resolve_device(device, local_rank).type == "cuda"  # (a GPU this machine lacks: a DeviceError)
    if use_cuda:
        torch.cuda.set_device(local_rank)
    backend = "nccl" if use_cuda else "gloo"
    timeout = datetime.timedelta(seconds=timeout_s) if timeout_s is not None else None
    try:
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world, timeout=timeout, store=_round_store(rank, world, timeout)
        )
    except dist.DistError as e:  # torch's own: the store was not reached, or not every process came in time
        waited = f"{timeout_s:g} s" if timeout_s is not None else "torch's default timeout"
        raise DeviceError(
            f"process {rank} of {world} could not meet the others at {os.environ['MASTER_ADDR']}:"
            f"{os.environ['MASTER_PORT']} within {waited} ({str(e).splitlines()[0]}); check that every process "
            "was started and that rank 0's address can be reached from here, or wait longer (--dist-timeout)"
        ) from None
    return DistInfo(rank, world, local_rank, initialized_here=True)


def _round_store(rank: int, world: int, timeout: datetime.timedelta | None) -> Store | None:
    """The agent's rendezvous store with keys of this round's own (None: torch's default).

    Only a store the agent serves (``TORCHELASTIC_USE_AGENT_STORE``) outlives its workers; without one,
    rank 0 serves a new store each round, at the port the agent chose for it. In the agent's store gloo
    finds its peers under the same keys in every round: a worker could read the address of the process it
    replaces and wait to connect to it until the timeout (seen on torch 2.14). A prefix per round
    (:func:`_round_number`) keeps the rounds apart."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or "MASTER_ADDR" not in os.environ:
        return None
    base = TCPStore(
        os.environ["MASTER_ADDR"],
        _env_int("MASTER_PORT", 29500),
        world,
        is_master=False,
        timeout=timeout or datetime.timedelta(minutes=30),
    )
    return PrefixStore(f"cnnzoo/round-{_round_number(base, rank, world)}", base)


_OPEN = "cnnzoo/rounds/open"  # [number, world size, ranks in it] of the newest round rank 0 opened


def _round_number(store: Store, rank: int, world: int) -> int:
    """The number of this round of workers in ``store``: the same in its ``world`` processes, new in each round.

    torchrun's restart count is no such number: it is each agent's own, and an agent that stops healthy
    workers because another node failed or joined counts no restart (pytorch/pytorch#135712). Rank 0
    opens round n+1 by a compare-and-set of ``_OPEN`` from round n, marks round n superseded and, when
    every rank has entered round n+1, says go. Another rank enters the open round (a compare-and-set adding
    its rank) if it has the same world size and not this rank yet, and waits for that round's end: go, or
    superseded, when it entered a round that a previous rank 0 left unfinished, and then it enters the
    next. A round of another size or with this rank in it is a previous one: it waits for the next to be
    opened. Every wait is on a key set when the awaited step is done, bounded by the store's timeout. Correct
    as long as each round's workers start after the previous round's have stopped: torchrun's agents stop
    their workers before they meet again (``SimpleElasticAgent._restart_workers``)."""
    if rank == 0:
        while True:
            seen = store.get(_OPEN).decode() if store.check([_OPEN]) else ""
            number = json.loads(seen)[0] + 1 if seen else 1
            opened = json.dumps([number, world, [0]])
            if store.compare_set(_OPEN, seen, opened).decode() == opened:
                break  # else another rank entered the previous round meanwhile: look again
        store.set(f"cnnzoo/rounds/{number}/opened", "1")
        if number > 1:
            store.set(f"cnnzoo/rounds/{number - 1}/end", "superseded")
        store.wait([f"cnnzoo/rounds/{number}/full"])
        store.set(f"cnnzoo/rounds/{number}/end", "go")
        return number
    if not store.check([_OPEN]):  # waits only on keys that set() writes: torch's older server wakes no
        store.wait(["cnnzoo/rounds/1/opened"])  # waiter on a compare_set (USE_LIBUV=0)
    while True:
        seen = store.get(_OPEN).decode()
        number, size, ranks = json.loads(seen)
        if size != world or rank in ranks:
            store.wait([f"cnnzoo/rounds/{number + 1}/opened"])
            continue
        entered = json.dumps([number, world, sorted([*ranks, rank])])
        if store.compare_set(_OPEN, seen, entered).decode() != entered:
            continue
        if len(ranks) + 1 == world:
            store.set(f"cnnzoo/rounds/{number}/full", "1")
        store.wait([f"cnnzoo/rounds/{number}/end"])
        if store.get(f"cnnzoo/rounds/{number}/end") == b"go":
            return number


def check_same_settings(settings: Mapping[str, Any], info: DistInfo) -> None:
    """Refuse, in every process alike, a run whose processes were given different ``settings``.

    Processes that train different models, batches or classes would exchange gradients of
    tensors that do not match (a hang or a crash deep in a collective) or, worse, ones that do
    and silently train nonsense. Each process sends a digest of each setting and its short
    form; every process compares them and raises the same :class:`~cnnzoo.errors.ConfigError`,
    naming each setting that differs and its value on each process. ``settings`` maps a name
    the user knows (``--batch-size``) to a value that JSON (or ``repr``) describes completely."""
    if not info.enabled:
        return
    mine = {name: (_digest(value), _short(value)) for name, value in settings.items()}
    everyone = gather_objects(mine, info)
    differ = []
    for name in settings:
        values: dict[str, tuple[str, list[int]]] = {}
        for rank, theirs in enumerate(everyone):
            digest, shown = theirs.get(name, ("", "(not given)"))
            values.setdefault(digest, (shown, []))[1].append(rank)
        if len(values) > 1:
            # values whose short forms look alike (long lists that differ further on) are told apart by digest
            alike = len({shown for shown, _ in values.values()}) < len(values)
            held = ", ".join(
                f"{shown}{f' (digest {digest[:8]})' if alike else ''} on {_ranks(ranks)}"
                for digest, (shown, ranks) in values.items()
            )
            differ.append(f"{name} {held}")
    if differ:
        raise ConfigError(
            f"the {info.world_size} processes were started with different settings: {'; '.join(differ)}; "
            "start every process with the same command, data (the same classes and images) and --output"
        )


def _digest(value: Any) -> str:
    # keys sorted: the same mapping read from YAML on one node and from arguments on another is the same
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()


def _short(value: Any) -> str:
    """A value as a setting's message shows it: a long list by its length and first items."""
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"{len(value)} [{', '.join(map(str, value[:3]))}, ...]"
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _ranks(ranks: list[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {', '.join(map(str, ranks))}"


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


def elastic_run_id() -> str | None:
    """The id of the torchrun job this process is a worker of (``--rdzv-id``; ``--standalone`` makes one up).

    None outside torchrun, and for torchrun's default id ``none``, which every job started without
    ``--rdzv-id`` shares: it tells no job from another."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "")
    return None if run_id in ("", "none") else run_id


def continuation(restarts: int, run_id: str | None, saved_run_id: str | None) -> str | None:
    """Why a process continues its run directory's newest complete checkpoint, or None: a start of its own.

    ``restarts`` is :func:`restart_count`, ``run_id`` this job's :func:`elastic_run_id` and ``saved_run_id``
    the one recorded in that checkpoint. torchrun counts a restart when workers failed, but not when the
    agents met again because a node joined (torch.distributed.elastic.agent.server.api: "membership changes
    do not count as retries"), nor when the same job is started anew: then the checkpoint's job id is what
    says that the directory holds this job's own progress, not another run's results."""
    if restarts:
        return f"torchrun restart {restarts}"
    if run_id is not None and run_id == saved_run_id:
        return f"torchrun job {run_id!r} met again (a node joined, or the job was started anew)"
    return None
