"""Which samples a process sees in an epoch, reproducibly and resumably."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

__all__ = ["epoch_seed", "EpochSampler", "epoch_batches"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffling and worker RNGs: a function of (seed, epoch) only."""
    return seed * 1_000_003 + epoch


class EpochSampler(Sampler[int]):
    """Indices for one process in one epoch; the order depends only on (seed, epoch).

    Shuffled with a generator seeded from the seed and the epoch (so a resumed run sees
    the same order as an uninterrupted one), padded so every process gets as many
    samples, and split by rank (``indices[rank::world_size]``, as DistributedSampler).
    It owns the resume position (``start`` skips samples already seen in an epoch that was
    interrupted) and the loader's :attr:`generator`, which seeds the worker processes.
    """

    def __init__(
        self, n: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1, pad: bool = True
    ) -> None:
        self.n, self.shuffle, self.seed, self.rank, self.world_size, self.pad = n, shuffle, seed, rank, world_size, pad
        self.epoch, self.start, self.consumed = 0, 0, 0
        #: give it to the DataLoader (``generator=``): the workers' seeds then follow the epoch too
        self.generator = torch.Generator().manual_seed(seed)

    def set_epoch(self, epoch: int, start: int = 0, *, consumed: int = 0) -> None:
        """Begin ``epoch``, ``start`` samples into this process's share (a resumed epoch); reseeds
        :attr:`generator`.

        ``consumed`` instead resumes an epoch that another number of processes began: the first
        ``consumed`` samples of the epoch's order are what they saw together (``k`` batches of
        ``B`` on each of ``W`` processes are the first ``k x B x W``, as the order is dealt out
        round-robin), so the rest of the order is dealt out afresh to this world size: no sample
        is repeated or skipped, except the padding that makes the shares equal.
        """
        self.epoch, self.start, self.consumed = epoch, start, consumed
        self.generator.manual_seed(epoch_seed(self.seed, epoch))

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        order = order[self.consumed :]
        if self.pad and len(order) % self.world_size:
            extra = self.world_size - len(order) % self.world_size
            order += (order * (extra // max(1, len(order)) + 1))[:extra]
        return order[self.rank :: self.world_size][self.start :]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        n = max(0, self.n - self.consumed)
        per_rank = math.ceil(n / self.world_size) if self.pad else len(range(self.rank, n, self.world_size))
        return max(0, per_rank - self.start)


def epoch_batches(loader: Iterable[Any], epoch: int, seed: int, skip: int = 0, *, consumed: int = 0) -> Iterator[Any]:
    """The batches of ``epoch`` of a loader, from batch ``skip`` on (a resumed epoch).

    An :class:`EpochSampler` starts where the epoch was interrupted, without loading the
    skipped batches. Other loaders (a notebook's own) get the epoch through their sampler's
    ``set_epoch`` and their ``generator`` seeded from (seed, epoch) where they have them,
    and skip batches by reading them. ``consumed`` (an :class:`EpochSampler` only) resumes
    an epoch that another number of processes began, ``consumed`` samples in (``skip`` is then 0).
    """
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, EpochSampler):
        sampler.set_epoch(epoch, start=skip * int(getattr(loader, "batch_size", 1) or 1), consumed=consumed)
        return iter(loader)
    generator = getattr(loader, "generator", None)
    if isinstance(generator, torch.Generator):  # worker seeds depend on (seed, epoch) only
        generator.manual_seed(epoch_seed(seed, epoch))
    if callable(getattr(sampler, "set_epoch", None)):
        sampler.set_epoch(epoch)  # type: ignore[union-attr]
    return itertools.islice(iter(loader), skip, None)
