"""What a run refuses to do: replace a previous run's results, save NaN weights, train on batches it cannot use.

Each check turns what would otherwise be a silent loss of results, a checkpoint that
cannot be used, or a traceback from deep inside torch, into one specific error that says
what to do. The Trainer calls them at the points where the facts are known: the run
directory when it is locked, the weights before every save, the loader before the first
step and each batch as it arrives.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..atomic import remove_stale_temp_files
from ..errors import CheckpointError, CnnzooError, ConfigError, DataError, OutputDirError, shown
from .distributed import DistInfo, all_reduce_sum
from .outputs import STEP_CHECKPOINTS, RunDirectory, output_refused

__all__ = [
    "RESULT_FILES",
    "previous_results",
    "refuse_or_clear_previous",
    "open_run_directory",
    "nonfinite_tensors",
    "diverged_message",
    "nan_validation_message",
    "pairs",
    "batches_per_epoch",
    "batch_of_one",
    "loading_into_run",
]

#: what a finished (or stopped) run leaves that a new run into the same directory would replace
RESULT_FILES = ("last.pt", "best.pt", "metrics.csv")
#: written beside them, replaced with them (``--overwrite``); a stale plot or event file would
#: describe the old run next to the new one's checkpoints
_ALSO_REPLACED = ("curves.png",)
_EVENTS_GLOB = "events.out.tfevents.*"


# ---------------------------------------------------------------- a previous run's results
def previous_results(directory: Path) -> list[str]:
    """The names of a previous run's results in ``directory`` (TensorBoard event files as one entry)."""
    found = [name for name in RESULT_FILES if (directory / name).exists()]
    if any(directory.glob(STEP_CHECKPOINTS)):
        found.append("step-N.pt checkpoints")
    if any(directory.glob(_EVENTS_GLOB)):
        found.append("TensorBoard events")
    return found


def refuse_or_clear_previous(directory: Path, overwrite: bool) -> None:
    """A new run (not a resume) into ``directory``: refuse if a previous run left results there,
    or, with ``overwrite``, remove them so that nothing of the old run stays beside the new one.

    Called with the run's lock held, so that no other run writes there meanwhile.
    """
    found = previous_results(directory)
    if not found:
        return
    if not overwrite:
        raise OutputDirError(
            f"{directory} holds the results of a previous run ({', '.join(found)}); continue it with "
            f"--resume {directory / 'last.pt'}, replace them with --overwrite, or choose another --output"
        )
    for path in [
        *(directory / n for n in (*RESULT_FILES, *_ALSO_REPLACED)),
        *directory.glob(_EVENTS_GLOB),
        *directory.glob(STEP_CHECKPOINTS),
    ]:
        path.unlink(missing_ok=True)  # a file it cannot remove is the kernel's OSError (open_run_directory)


def open_run_directory(
    output: str | os.PathLike[str] | None,
    model_name: str,
    *,
    fresh: bool,
    overwrite: bool,
    dist_info: DistInfo,
    device: torch.device,
) -> RunDirectory | None:
    """The main process's run directory, entered (its lock held, so no other run writes there while a
    ``fresh`` run looks for a previous run's results); None in the other processes.

    What the kernel refuses on the way (making the directory, taking its lock, removing a previous
    run's file with ``overwrite``) is one :class:`~cnnzoo.errors.OutputDirError` naming the path and
    the kernel's reason (:func:`~cnnzoo.training.outputs.output_refused`). Only the main process
    opens the directory; every process learns whether that failed (one all-reduce), so the others
    stop with it instead of waiting at training's first all-reduce forever. The caller exits the
    directory at the end of the run.
    """
    run_dir, error = None, None
    if dist_info.is_main:
        try:
            run_dir = RunDirectory(output, model_name)
            with contextlib.ExitStack() as held:
                held.enter_context(run_dir)  # released again if what follows fails
                remove_stale_temp_files(run_dir.path)  # half-written files of a killed run; the lock says none is live
                if fresh:
                    refuse_or_clear_previous(run_dir.path, overwrite)
                held.pop_all()  # stays entered
        except CnnzooError as e:
            error = e
        except OSError as e:  # taking the lock, removing a previous run's file: the kernel says why not
            error = output_refused(e, output)
    if dist_info.enabled:
        failed = all_reduce_sum(torch.tensor([float(error is not None)], device=device), dist_info).item()
        if failed and error is None:  # (only the main process can fail here, and it has no directory then)
            error = OutputDirError("the main process (rank 0) could not open the run directory; its message says why")
    if error is not None:  # every process stops here, the main one with its own reason
        raise error
    return run_dir


# ---------------------------------------------------------------- non-finite weights
def nonfinite_tensors(*modules: nn.Module | None) -> list[str]:
    """The names of the floating-point parameters and buffers of ``modules`` that hold NaN or inf.

    One host-device synchronisation for all of them (the flags are stacked on the device).
    """
    named = [
        (name, t)
        for m in modules
        if m is not None
        for name, t in m.state_dict(keep_vars=False).items()
        if t.is_floating_point()
    ]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok]


def _kept(last: Path | None) -> str:
    if last is not None and last.exists():
        return f"the last good checkpoint {last} is kept"
    return "no checkpoint was saved yet"


def diverged_message(epoch: int, first_bad: int, epoch_start_step: int, grad_accum: int, last: Path | None) -> str:
    """A NaN/inf training loss: where it first showed, and what is kept."""
    where = (
        f"batch {first_bad} of epoch {epoch + 1} (optimiser step "
        f"{epoch_start_step + math.ceil(first_bad / grad_accum)})"
        if first_bad >= 0
        else f"epoch {epoch + 1} (on another process)"
    )
    return (
        f"the loss became NaN or infinite at {where}; {_kept(last)}. Lower --lr, or add --warmup-epochs or --clip-grad"
    )


def nan_validation_message(epoch: int, val_loss: float | None, bad: Sequence[str], last: Path | None) -> str:
    """A run whose training loss stayed finite but whose weights or validation loss did not (epoch 1-based)."""
    if bad:
        cause = (
            f"{len(bad)} weight tensors became NaN or infinite (first: {bad[0]}) in the last steps, "
            "after the last training loss was read"
        )
    else:
        cause = "the weights are finite but the outputs overflow float32"
    what = (
        f"the validation loss of epoch {epoch} is {val_loss}"
        if val_loss is not None
        else f"the weights of epoch {epoch} are not finite"
    )
    return f"{what}: {cause}; {_kept(last)}. Lower --lr, or add --warmup-epochs or --clip-grad"


# ---------------------------------------------------------------- batches
def pairs(batches: Iterable[Any], what: str) -> Iterator[Any]:
    """``batches`` as they are, checked to be ``(images, labels)`` pairs (``what``: whose loader)."""
    for i, item in enumerate(batches, 1):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DataError(
                f"the {what} loader's batches must be (images, labels) pairs; batch {i} is {shown(item)}. "
                "Make the dataset return (image, label), or give the DataLoader a collate_fn that "
                "drops the rest"
            )
        yield item


def batches_per_epoch(loader: Any, limit: int | None) -> int:
    """The training batches of an epoch: the loader's length, at most ``limit``; a DataError for none."""
    try:
        n = len(loader)
    except TypeError:  # an iterable without a length: the epoch is limit_batches long
        if limit is None:
            raise DataError("the training loader has no len(); set limit_batches (batches per epoch)") from None
        n = limit
    n = min(n, limit or sys.maxsize)
    if n == 0:
        raise DataError("the training loader gives no batches (fewer images than one batch?)")
    return n


def _raised_in(error: BaseException) -> Any:
    """The code object of the function that raised ``error`` (its innermost frame)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code if tb is not None else None


#: where torch refuses BatchNorm a batch with one value per channel (``F.batch_norm``'s own check)
_BATCH_SIZE_CHECK = getattr(getattr(F, "_verify_batch_size", None), "__code__", None)


@contextlib.contextmanager
def batch_of_one(batch: int, epoch: int) -> Iterator[None]:
    """Rephrase torch's BatchNorm error for a batch of one image, with what to do.

    BatchNorm in training normalises by the batch's variance, which one value per channel
    does not have (one image whose feature map is 1x1 there, or a BatchNorm1d): torch's
    ``F.batch_norm`` stops with a ValueError. It is not known before the forward (a
    BatchNorm2d over a larger map trains on one image), so it is caught where it happens,
    and recognised by where torch raised it, not by its wording.
    """
    try:
        yield
    except ValueError as e:
        if _raised_in(e) is not _BATCH_SIZE_CHECK:  # (None where torch lacks the check: nothing is rephrased)
            raise
        raise ConfigError(
            f"batch {batch} of epoch {epoch} holds 1 image, which BatchNorm cannot train on (one "
            "image has no variance to normalise by); choose a batch size that leaves no batch of "
            "one, or give the DataLoader drop_last=True"
        ) from None


@contextlib.contextmanager
def loading_into_run(checkpoint: str | os.PathLike[str]) -> Iterator[None]:
    """Torch's refusal to load a checkpoint's states into a run's model, optimiser, schedule or EMA as one
    :class:`CheckpointError`: a key or shape the model lacks (``load_state_dict``'s RuntimeError), another
    optimiser's parameter groups (ValueError), a state without the entries torch reads (KeyError). The
    reader (:func:`~cnnzoo.weights.checkpoint.load_checkpoint`) checked the file's entries, not whether
    they fit the model this run built."""
    try:
        yield
    except (RuntimeError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"{checkpoint} does not fit this run ({str(e).splitlines()[0]}); use it with the model, "
            "classes and settings of the run that saved it"
        ) from None
