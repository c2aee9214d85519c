"""What a training run writes: its directory and lock, atomic checkpoints, metrics, curves.

Every file is written to a temporary file in the same directory, flushed to disk and
``os.replace``\\ d over the old one, so a crash or a full disk leaves the previous file
whole. Checkpoints hold only tensors and plain containers, so they load with
``torch.load(weights_only=True)`` (no arbitrary unpickling).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, OutputDirError

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_checkpoint", "load_checkpoint",
           "RunLock", "prepare_output_dir", "remove_stale_temp_files",
           "write_metrics_csv", "plot_curves", "METRIC_COLUMNS"]

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_top1", "val_top5",
                  "lr", "images_per_s", "seconds")


# Test hook (tests/test_faults.py): seconds to sleep between the flushed temp file and the
# rename of a checkpoint, so that a test can kill -9 the trainer inside the save.
SAVE_PAUSE_ENV = "CNNZOO_TEST_SAVE_PAUSE"


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str, pause: float = 0.0) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if pause:
            time.sleep(pause)
        os.replace(tmp, path)
    except BaseException:
        # the old file (if any) is untouched; do not leave the partial one behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (POSIX; a no-op where directories can't be opened)
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, replace)."""
    _atomic_write(path, lambda f: f.write(data), "wb")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")), "wb")


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Save a checkpoint dict atomically: a reader never sees a half-written file."""
    path = Path(path)
    try:
        _atomic_write(path, lambda f: torch.save(state, f), "wb", float(os.environ.get(SAVE_PAUSE_ENV) or 0))
    except OSError as e:  # a full disk, a quota, a vanished directory: the old file is whole
        kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}; {kept}. "
                              "Free some space or choose another --output") from None


def load_checkpoint(path: str | os.PathLike[str], *, expect_model: str | None = None) -> dict[str, Any]:
    """Load a cnnzoo training checkpoint safely (``weights_only=True``, on the CPU).

    A missing, truncated or foreign file is a :class:`CheckpointError` saying what is
    wrong; with ``expect_model`` a checkpoint of another model is refused by name.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist (or is not a file)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # zip/pickle errors name no common class; report them all alike
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(f"{p} is not a cnnzoo checkpoint: it needs arbitrary unpickling to load, "
                                  "which cnnzoo refuses") from None
        with open(p, "rb") as f:  # torch.save writes a zip; the legacy reader's errors (KeyError 101) say nothing
            is_zip = f.read(4) == b"PK\x03\x04"
        if not is_zip:
            raise CheckpointError(f"{p} is not a PyTorch checkpoint (not torch.save's zip format); "
                                  "resume from a run's last.pt") from None
        raise CheckpointError(f"cannot read checkpoint {p} (corrupt or truncated?): {msg}") from None
    if not isinstance(state, dict) or "model" not in state or "model_name" not in state:
        raise CheckpointError(f"{p} is not a cnnzoo training checkpoint (no 'model'/'model_name' entries); "
                              "for plain weights use --pretrained PATH")
    if expect_model is not None and state["model_name"] != expect_model:
        raise CheckpointError(f"checkpoint {p} is of model '{state['model_name']}', not '{expect_model}'; "
                              f"use --model {state['model_name']} or another checkpoint")
    return state


# ---------------------------------------------------------------- output directory
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


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
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner == -1:
                    continue  # released meanwhile
                fresh = owner is None and time.time() - self._mtime() < 10
                if fresh or (owner is not None and _pid_alive(owner)):
                    who = f"pid {owner}" if owner is not None else "a run that is starting"
                    raise OutputDirError(
                        f"{self.path.parent} is in use by another run ({who}); wait for it or choose "
                        f"another --output (if no run uses it, delete {self.path})") from None
                self._take_over_stale(owner)
                continue
            except PermissionError:
                raise OutputDirError(f"output directory {self.path.parent} is not writable; "
                                     "choose another --output") from None
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
        if moved != stale_owner and moved is not None and _pid_alive(moved):
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


def prepare_output_dir(output: str | os.PathLike[str] | None, model_name: str) -> Path:
    """The run directory (created); refuses a file, an unwritable path or a bad name."""
    if output is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model_name}-{stamp}"
        path, n = base, 1
        while path.exists():  # two runs started in the same second
            n += 1
            path = base.with_name(f"{base.name}-{n}")
    else:
        path = Path(output)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"output {path} is a file, not a directory; choose another --output")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputDirError(f"output {path}: one of its parents is a file; choose another --output") from None
    except OSError as e:
        reason = "not writable" if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else e.strerror
        raise OutputDirError(f"cannot create output directory {path}: {reason}; choose another --output") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(f"output directory {path} is not writable; choose another --output")
    return path


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files that a killed run left in ``directory`` (call holding its lock)."""
    removed = []
    for tmp in Path(directory).glob(".*.tmp"):
        try:
            tmp.unlink()
        except OSError:
            continue
        removed.append(tmp)
    return removed


# ---------------------------------------------------------------- metrics and curves
def write_metrics_csv(path: Path, history: Sequence[dict[str, float]]) -> None:
    """``metrics.csv``: one row per epoch, the columns of :data:`METRIC_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k, ""))
                         for k in METRIC_COLUMNS})
    atomic_write_text(path, buf.getvalue())


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
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
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
    atomic_write_bytes(path, buf.getvalue())
    return True
