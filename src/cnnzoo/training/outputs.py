"""What a training run writes: its directory and lock, atomic checkpoints, metrics, curves.

Every file is written with :mod:`cnnzoo.atomic` (a temporary file beside it, flushed,
renamed over the old one), so a crash or a full disk leaves the previous file whole.
Checkpoints hold only tensors and plain containers, so they load with
``torch.load(weights_only=True)`` (no arbitrary unpickling).
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write, pid_alive, remove_stale_temp_files
from ..errors import CheckpointError, OutputDirError, WriteError
from ..weights.checkpoint import checkpoint_problem, load_checkpoint
from .config import TrainConfig, save_config

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_problem",
    "newest_checkpoint",
    "step_checkpoint_name",
    "STEP_CHECKPOINTS",
    "RunLock",
    "RunDirectory",
    "prepare_output_dir",
    "output_refused",
    "remove_stale_temp_files",
    "write_metrics_csv",
    "plot_curves",
    "METRIC_COLUMNS",
    "HEAD_LOSS_PREFIX",
    "say",
    "plural",
    "progress_bar",
]

METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_top1",
    "val_top5",
    "lr",
    "images_per_s",
    "seconds",
)
#: the loss of each head, for models with auxiliary classifiers (GoogLeNet: train_loss =
#: train_loss_main + 0.3 x (train_loss_aux1 + train_loss_aux2)); written after the others
HEAD_LOSS_PREFIX = "train_loss_"


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Save a checkpoint dict atomically: a reader never sees a half-written file."""
    try:
        atomic_write(path, lambda f: torch.save(state, f))
    except WriteError as e:  # a full disk, a quota, a vanished directory: the message says what is kept
        raise CheckpointError(f"{e}; free some space or choose another --output") from None


#: the checkpoints saved during an epoch (--save-every): step-<optimiser step>.pt
STEP_CHECKPOINTS = "step-*.pt"


def step_checkpoint_name(step: int) -> str:
    """The file name of the checkpoint saved after optimiser step ``step`` (sorts by step)."""
    return f"step-{step:09d}.pt"


def newest_checkpoint(directory: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete checkpoint of the run in ``directory`` and its state (None if there is none).

    The candidates are ``last.pt`` and the ``step-N.pt`` files; the newest is the one of the
    most optimiser steps that loads (``last.pt`` where they tie: it also holds the epoch's
    row). Every checkpoint is one file, renamed into place whole once every process's share
    was gathered into it, so one that loads is complete; a damaged one is passed over.
    """
    d = Path(directory)
    found: list[tuple[int, int, Path, dict[str, Any]]] = []
    for path in [d / "last.pt", *sorted(d.glob(STEP_CHECKPOINTS))]:
        try:  # the reader refuses what is missing, not a file, damaged or foreign
            state = load_checkpoint(path)
        except CheckpointError:
            continue
        if "optimizer" in state:
            found.append((int(state["step"]), path.name == "last.pt", path, state))
    if not found:
        return None
    _, _, path, state = max(found, key=lambda f: (f[0], f[1]))
    return path, state


def prune_step_checkpoints(directory: Path, keep: int) -> None:
    """Remove all but the newest ``keep`` step-N.pt checkpoints of a run."""
    for old in sorted(directory.glob(STEP_CHECKPOINTS))[:-keep]:
        old.unlink(missing_ok=True)


# ---------------------------------------------------------------- output directory
class RunLock:
    """``DIR/.lock`` holding the pid of the run writing into ``DIR``.

    Taken with ``O_CREAT | O_EXCL`` so two runs cannot both hold it; a lock left by a
    process that no longer exists (a killed run) is taken over.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / ".lock"
        self.held = False

    def acquire(self) -> RunLock:
        for _ in range(5):
            if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
                raise OutputDirError(
                    f"{self.path} is not cnnzoo's lock file (a folder or a link); remove it, or choose another --output"
                )
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner == -1:
                    continue  # released meanwhile
                fresh = owner is None and time.time() - self._mtime() < 10
                if fresh or (owner is not None and pid_alive(owner)):
                    who = f"pid {owner}" if owner is not None else "a run that is starting"
                    raise OutputDirError(
                        f"{self.path.parent} is in use by another run ({who}); wait for it or choose "
                        f"another --output (if no run uses it, delete {self.path})"
                    ) from None
                self._take_over_stale(owner)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return self
        raise OutputDirError(f"could not lock {self.path.parent}: other runs keep taking it")

    def _owner(self) -> int | None:
        """The pid in the lock; -1 if the lock is gone; None if unreadable (being written)."""
        try:
            return int(self.path.read_text().strip())
        except FileNotFoundError:
            return -1
        except (ValueError, OSError):
            return None

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def _take_over_stale(self, stale_owner: int | None) -> None:
        # rename first, so that of two runs taking over the same stale lock only one removes
        # it; a run that renamed a fresh lock instead (the other run's) puts it back
        aside = self.path.with_name(f".lock.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = int(aside.read_text().strip())
        except (ValueError, OSError):
            moved = None
        if moved != stale_owner and moved is not None and pid_alive(moved):
            try:
                os.link(aside, self.path)  # fails if yet another lock appeared: then it stands
            except OSError:
                pass
        os.unlink(aside)

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                if self.path.read_text().strip() == str(os.getpid()):
                    os.unlink(self.path)
            except OSError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


#: the kernel's reasons that mean something else in an output directory's path than they say
_REFUSALS: dict[int | None, str] = {
    errno.EEXIST: "it is a file, not a directory",
    errno.ENOTDIR: "one of its parents is a file",
}


def output_refused(e: OSError, output: str | os.PathLike[str] | None = None) -> OutputDirError:
    """The kernel's refusal of an output directory (making it, its lock, a previous run's file that
    ``--overwrite`` removes) in one line: the path and the kernel's reason (no permission, a read-only
    file system, a file in the way)."""
    why = _REFUSALS.get(e.errno, e.strerror or str(e))
    return OutputDirError(f"cannot use {e.filename or output}: {why}; choose another --output")


def prepare_output_dir(output: str | os.PathLike[str] | None, model_name: str) -> Path:
    """The run directory (created); what the kernel refuses is its OSError, which the run's opener
    (:func:`~cnnzoo.training.guards.open_run_directory`) says in one line (:func:`output_refused`)."""
    if output is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model_name}-{stamp}"
        path, n = base, 1
        while path.exists():  # two runs started in the same second
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    else:
        path = Path(output)
    path.mkdir(parents=True, exist_ok=True)
    return path  # whether it is writable, the lock's creation asks the kernel (RunLock.acquire)


class RunDirectory:
    """The directory a run writes into: made on creation, locked while entered (``with``).

    Entering takes its :class:`RunLock` (refusing a directory another live run holds; the run's
    opener, :func:`~cnnzoo.training.guards.open_run_directory`, then removes the temporary files a
    killed run left); inside, :meth:`save` writes checkpoints and the other methods the recipe,
    metrics and curves, all atomically.
    """

    def __init__(self, output: str | os.PathLike[str] | None, model_name: str) -> None:
        self.path = prepare_output_dir(output, model_name)
        self.lock = RunLock(self.path)

    def __enter__(self) -> RunDirectory:
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def file(self, name: str) -> Path:
        return self.path / name

    def save(self, name: str, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.path / name)

    def write_recipe(self, config: TrainConfig) -> None:
        """``config.yaml``: the settings of the run, so that ``--config`` repeats it."""
        recipe = self.path / "config.yaml"
        save_config(
            config.replace(output=None, overwrite=False),
            recipe,
            header=f"cnnzoo train recipe of {self.path}; repeat with: cnnzoo train --config {recipe}",
        )

    def write_metrics(self, history: Sequence[dict[str, float]]) -> None:
        write_metrics_csv(self.path / "metrics.csv", history)

    def draw_curves(self, history: Sequence[dict[str, float]], title: str) -> bool:
        return plot_curves(self.path / "curves.png", history, title)


# ---------------------------------------------------------------- metrics and curves
def write_metrics_csv(path: Path, history: Sequence[dict[str, float]]) -> None:
    """``metrics.csv``: one row per epoch, the columns of :data:`METRIC_COLUMNS`, then the loss of
    each head where the model has auxiliary classifiers (``train_loss_main``, ``train_loss_aux1`` ...)."""
    heads = list(dict.fromkeys(k for row in history for k in row if k.startswith(HEAD_LOSS_PREFIX)))
    columns = [*METRIC_COLUMNS, *heads]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k, "")) for k in columns})
    atomic_write(path, buf.getvalue())


def plot_curves(path: Path, history: Sequence[dict[str, float]], title: str) -> bool:
    """Loss and accuracy curves as a PNG; False when matplotlib (extra ``plot``) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return False
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="val")
    for key in dict.fromkeys(k for r in history for k in r if k.startswith(HEAD_LOSS_PREFIX)):
        ax_loss.plot(
            epochs,
            [r.get(key, float("nan")) for r in history],
            ":",
            label=key[len(HEAD_LOSS_PREFIX) :].replace("main", "train, main head"),
        )
    losses = [
        v
        for r in history
        for k, v in r.items()
        if (k in ("train_loss", "val_loss") or k.startswith(HEAD_LOSS_PREFIX))
        and isinstance(v, (int, float))
        and math.isfinite(v)
        and v > 0
    ]
    # losses spanning more than a factor of 30 (an early spike, a fast first epoch): on a linear
    # axis the spike flattens every later epoch into one line; a log axis keeps them apart
    log = bool(losses) and max(losses) / min(losses) > 30
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    if log:
        ax_loss.set_yscale("log")
        ax_loss.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # 0.05, not 5x10^-2
        ax_loss.yaxis.set_minor_formatter(NullFormatter())
    ax_loss.set(xlabel="epoch", ylabel="loss" + (" (log scale)" if log else ""), title="loss")

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_acc.plot(epochs, [r["train_acc"] for r in history], "o-", label="train (batch accuracy)")
    ax_acc.plot(epochs, [r["val_top1"] for r in history], "o-", label="val top-1")
    ax_acc.plot(epochs, [r["val_top5"] for r in history], "--", label="val top-5")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())
    return True


# ---------------------------------------------------------------- the console
def say(message: str) -> None:
    """Print one line of a run's log and flush it (a line at a time also when piped: tee, a log
    file, a notebook). A reader that went away (``cnnzoo train | head -1``) does not stop the
    run: its output goes nowhere from then on."""
    try:
        print(message, flush=True)
    except BrokenPipeError:
        # Python's advice: point stdout at /dev/null, so that no later write (nor the flush
        # at exit) fails again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def progress_bar(total: int, done: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar of batches on an interactive terminal (a no-op bar otherwise)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=done,
        desc=desc,
        unit="batch",
        leave=False,
        dynamic_ncols=True,
        disable=not (enabled and sys.stderr.isatty()),
    )
