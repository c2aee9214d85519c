"""``--log tensorboard``: a run's curves as TensorBoard event files, beside its ``metrics.csv``.

Written with ``torch.utils.tensorboard.SummaryWriter`` (the ``tensorboard`` package, extra
``cnnzoo[tensorboard]``) into the run directory itself, so ``tensorboard --logdir runs``
shows every run by its directory name. The x axis is the optimiser step throughout:

- ``epoch/<column>``: each column of ``metrics.csv`` (``train_loss``, ``val_top1``, ``lr``,
  ``images_per_s`` ...) once per epoch, at the epoch's last step;
- ``step/train_loss``, ``step/train_acc``, ``step/lr``, ``step/images_per_s`` every
  ``log_every`` steps: the means over the steps since the previous point (the trainer reads
  the device's sums then anyway, so logging adds no synchronisation).

A resumed run purges what the interrupted one logged after its checkpoint.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["require_tensorboard", "TensorBoardLog"]

_MISSING = "--log tensorboard needs the tensorboard package: pip install 'cnnzoo[tensorboard]'"


def require_tensorboard() -> Any:
    """``SummaryWriter``, or :class:`MissingDependencyError` saying what to install."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard raises it itself when tensorboard is missing
        raise MissingDependencyError(_MISSING) from None
    return SummaryWriter


class TensorBoardLog:
    """The event files of one run in ``directory``, continuing after optimiser step ``step``."""

    def __init__(self, directory: Path, step: int = 0) -> None:
        writer = require_tensorboard()
        # a resume starts after the checkpoint's step: what the interrupted run logged later is
        # purged (purge_step hides events at that step and after, so the checkpoint's own stay)
        self.writer = writer(log_dir=str(directory), purge_step=step + 1 if step else None)
        self._mark: tuple[float, float, float, float, int] | None = None  # loss sum, correct, images, time, step

    def begin_epoch(self, partial: list[float] | None, step: int) -> None:
        """Start the per-step windows of an epoch (``partial``: the sums of a resumed one)."""
        loss, correct, images = (partial[0], partial[1], partial[2]) if partial else (0.0, 0.0, 0.0)
        self._mark = (loss, correct, images, time.perf_counter(), step)

    def steps(self, step: int, loss_sum: float, correct: float, images: float, lr: float) -> None:
        """The ``step/`` scalars at ``step`` from the epoch's running sums (means since the last point)."""
        if self._mark is None:
            return
        loss0, correct0, images0, t0, step0 = self._mark
        n, now = images - images0, time.perf_counter()
        if n <= 0 or step == step0:
            return
        self._mark = (loss_sum, correct, images, now, step)
        for tag, value in (
            ("train_loss", (loss_sum - loss0) / n),
            ("train_acc", 100 * (correct - correct0) / n),
            ("lr", lr),
            ("images_per_s", n / (now - t0) if now > t0 else 0.0),
        ):
            self.writer.add_scalar(f"step/{tag}", value, step)

    def epoch(self, row: dict[str, float], step: int) -> None:
        """The epoch's row of ``metrics.csv`` as ``epoch/<column>`` at ``step``; flushed to disk."""
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(f"epoch/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
