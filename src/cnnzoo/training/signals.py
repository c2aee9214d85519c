"""Ctrl-C and SIGTERM during training: finish the step, save, stop; a second Ctrl-C stops at once."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["StopSignals"]


class StopSignals:
    """While entered, SIGINT, SIGTERM and the signals in ``also`` only record that a stop was asked for (``received``).

    The training loop looks at ``received`` between steps, saves ``last.pt`` and returns;
    a second SIGINT raises ``KeyboardInterrupt`` at once. The previous handlers come back
    on exit. Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self, also: tuple[int, ...] = ()) -> None:
        self.received: int | None = None
        self.signals = (signal.SIGINT, signal.SIGTERM, *also)  # also: SIGUSR1, SLURM's notice (--signal)
        self._old: dict[int, Any] = {}

    @property
    def name(self) -> str | None:
        """``"SIGTERM"``/``"SIGINT"`` once one was received."""
        return signal.Signals(self.received).name if self.received is not None else None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.received = signum

    def __enter__(self) -> StopSignals:
        self.received = None
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._old[sig] = signal.getsignal(sig)
                signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()
