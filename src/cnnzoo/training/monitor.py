"""What the training loop learns when it reads the device: the loss so far, and what the processes agree on.

The loop never waits for the device between reads (``EpochTotals`` sums on it); every
``log_every`` steps and at an epoch's end :meth:`StepMonitor.read` is the one host-device
synchronisation. With several processes it is also where they agree, in the same
all-reduce, on whether to stop (a signal reached one of them: torchrun signals all, a
scheduler may not) and whether a timed save is due (rank 0's clock decides: the clocks differ).
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass

import torch

from .distributed import DistInfo, all_reduce_sum
from .parts import EpochTotals
from .signals import StopSignals

__all__ = ["Reading", "StepMonitor"]


@dataclass(frozen=True)
class Reading:
    """One read of the epoch so far: sums over all processes, and what they agreed on."""

    loss_sum: float  # loss x images
    correct: float
    images: float
    first_bad: int  # this process's first batch (1-based) with a NaN/inf loss; -1 if none
    stop: bool
    save: bool  # --save-every-minutes: a save is due

    @property
    def diverged(self) -> bool:
        """A NaN/inf loss here, or (a sum that is not finite) in another process."""
        return not math.isfinite(self.loss_sum) or self.first_bad >= 0


class StepMonitor:
    """Reads an epoch's :class:`~cnnzoo.training.parts.EpochTotals` and agrees on stops and timed saves.

    ``stop`` and ``save`` hold the last agreement; :meth:`saved` restarts the save clock.
    """

    def __init__(self, signals: StopSignals, dist: DistInfo, save_every_minutes: float | None) -> None:
        self.signals, self.dist, self.minutes = signals, dist, save_every_minutes
        self.clock = time.monotonic()  # --save-every-minutes counts from here and from each save
        self.stop = self.save = False

    def saved(self) -> None:
        self.clock, self.save = time.monotonic(), False

    def read(self, totals: EpochTotals) -> Reading:
        flag = float(self.signals.received is not None)
        due = self.minutes is not None and time.monotonic() - self.clock >= 60 * self.minutes
        late = float(self.dist.is_main and due)
        local = torch.cat([totals.sums, totals.first_bad.double().view(1)])
        if self.dist.enabled:
            state = all_reduce_sum(torch.cat([local, local.new_tensor([float(totals.images), flag, late])]), self.dist)
            loss_sum, correct, _, n, flag, late = state.tolist()
            first_bad = local[2].item()
            if flag and self.signals.received is None:  # another process was signalled
                self.signals.received = signal.SIGTERM
        else:
            loss_sum, correct, first_bad = local.tolist()
            n = totals.images
        self.stop, self.save = flag > 0, late > 0
        return Reading(loss_sum, correct, n, int(first_bad), self.stop, self.save)
