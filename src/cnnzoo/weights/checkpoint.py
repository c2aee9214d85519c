"""What a training checkpoint holds, written down once: the trainer builds every checkpoint it
saves through :class:`WeightsCheckpoint` (``best.pt``) or :class:`Checkpoint` (``last.pt``,
``step-N.pt``: everything a resume needs), and :func:`load_checkpoint` checks a file against the
same fields, so an entry added to what is saved is an entry the reader checks.

Each field's type annotation is what the reader checks (``Annotated`` adds a check of the value);
its ``what`` says it in words for the message. A checkpoint is also compared with the run it
joins (:func:`check_joins`): the classes, model, number of classes and input channels it was
trained with against those of the data and arguments it is resumed, evaluated or predicted with.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast

import torch

from ..errors import CheckpointError, ConfigError
from ..limits import conform
from .files import open_weights

__all__ = ["RunRecord", "WeightsCheckpoint", "Checkpoint", "load_checkpoint", "checked", "check_joins"]


#: the leading numbers of an unfinished epoch's sums (``partial``), then one loss sum per head for a
#: model with auxiliary outputs (:meth:`cnnzoo.training.parts.EpochTotals.partial` writes them)
PARTIAL_FIELDS = ("loss_sum", "correct", "images", "seconds")


# random.getstate() (version, state, gauss) and np.random.get_state() as lists, the keys a tensor
PythonRng = Annotated[list[Any], lambda v: len(v) == 3 and isinstance(v[1], list)]
NumpyRng = Annotated[list[Any], lambda v: len(v) == 5 and isinstance(v[0], str) and isinstance(v[1], torch.Tensor)]


class RngState(TypedDict):
    """Every random-number-generator state (:func:`cnnzoo.training.seeding.get_rng_state`)."""

    torch: torch.Tensor
    python: PythonRng
    numpy: NumpyRng
    cuda: list[torch.Tensor]


# TrainConfig.to_dict(); predict builds the run's model with its constructor arguments (model_kwargs)
Settings = Annotated[dict[str, Any], lambda v: isinstance(v.get("model_kwargs") or {}, dict)]
Count = Annotated[int, lambda v: v >= 0]
Positive = Annotated[int, lambda v: v >= 1]
Partial = Annotated[list[float], lambda v: len(v) >= len(PARTIAL_FIELDS)]


def _entry(what: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    return dataclasses.field(default=default, default_factory=factory, metadata={"what": what})


@dataclasses.dataclass(kw_only=True)
class RunRecord:
    """What a checkpoint records of the data a run was trained on (the Trainer's ``meta``)."""

    classes: list[str] | None = _entry("a list of class names", None)
    in_chans: Count | None = _entry("an integer or null", None)
    data: str | None = _entry("a data source", None)
    preprocessing: dict[str, Any] | None = _entry("a mapping of preprocessing settings", None)


@dataclasses.dataclass(kw_only=True)
class WeightsCheckpoint(RunRecord):
    """A run's weights and what it was trained on (``best.pt``); the fields without a default are
    required, the others may be absent from an older file."""

    model: dict[str, torch.Tensor] = _entry("a state dict (names to tensors)")
    model_name: Annotated[str, str.isidentifier] = _entry("a model name")
    config: Settings = _entry("a mapping of settings (model_kwargs a mapping)", factory=dict)
    epoch: Count = _entry("an integer >= 0", 0)
    step: Count = _entry("an integer >= 0", 0)
    num_classes: Count | None = _entry("an integer or null", None)
    input_size: list[Count] | None = _entry("a list of sizes", None)
    best_top1: float | None = _entry("a number or null", None)
    best_epoch: Count = _entry("an integer >= 0", 0)
    history: list[dict[str, float]] = _entry("a list of rows of numbers", factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The dict ``torch.save`` writes (plain containers: it loads with ``weights_only=True``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(kw_only=True)
class Checkpoint(WeightsCheckpoint):
    """Everything a resume needs (``last.pt``, ``step-N.pt``): the weights, the optimiser, schedule,
    scaler and EMA states, every RNG state and where in the epoch the run stopped."""

    config: Settings = _entry("a mapping of settings (model_kwargs a mapping)")
    epoch: Count = _entry("an integer >= 0")
    step: Count = _entry("an integer >= 0")
    optimizer: dict[str, Any] = _entry("an optimiser state")
    scheduler: dict[str, Any] = _entry("a schedule state")
    scaler: dict[str, Any] | None = _entry("a gradient scaler state or null", None)
    ema: dict[str, Any] | None = _entry("an EMA state or null", None)
    rng: RngState = _entry("the random-number-generator states cnnzoo saves")
    rng_ranks: list[RngState] | None = _entry("one set of RNG states per process", None)
    batch_in_epoch: Count = _entry("an integer >= 0", 0)
    partial: Partial | None = _entry(
        "null or the epoch's sums so far (loss, correct, images, seconds, then one loss per head)", None
    )
    world_size: Positive = _entry("an integer >= 1", 1)
    loader_batch: Positive | None = _entry("an integer >= 1", None)
    # the torchrun job (--rdzv-id) that wrote it: a new round of the same job continues from it
    elastic_run_id: str | None = _entry("a torchrun job id or null", None)


def run_record(meta: dict[str, Any] | None) -> dict[str, Any]:
    """A Trainer's ``meta``, the :class:`RunRecord` of its checkpoints (an unknown key is refused now,
    not at the first save)."""
    known = [f.name for f in dataclasses.fields(RunRecord)]
    unknown = sorted(set(meta or {}) - set(known))
    if unknown:
        raise ConfigError(f"meta may record {', '.join(known)}; not {', '.join(unknown)}")
    return dict(meta or {})


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


_HINTS = typing.get_type_hints(Checkpoint, include_extras=True)
_FIELDS = {f.name: f for f in dataclasses.fields(Checkpoint)}


def checkpoint_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's entries (None if nothing is): each entry it holds against
    :class:`Checkpoint`'s fields, and a full one (it holds an optimiser state) for the fields a
    resume needs."""
    for key, f in _FIELDS.items():
        if key in state and not conform(state[key], _HINTS[key])[0]:
            return f"its {key!r} is not {f.metadata['what']}"
    if "optimizer" in state:
        needed = [k for k, f in _FIELDS.items() if _required(f) and k not in state]
        if needed:
            return f"it lacks {', '.join(needed)}"
    return None


def load_checkpoint(path: str | os.PathLike[str], *, expect_model: str | None = None) -> dict[str, Any]:
    """Load a cnnzoo training checkpoint safely: the one reader of ``last.pt``/``best.pt`` for
    ``--resume``, ``eval``, ``predict``, ``export`` and ``create_model(pretrained=PATH)``.

    Read by :func:`cnnzoo.weights.files.open_weights` (memory-mapped, zip checksums verified,
    ``weights_only``) and checked against :class:`Checkpoint` (:func:`checked`, which
    ``create_model(pretrained=PATH)`` applies to a run's checkpoint too). A missing, truncated
    or foreign file is a :class:`CheckpointError` saying what is wrong; with ``expect_model`` a
    checkpoint of another model is refused by name.
    """
    p = Path(path)
    with open_weights(p, what="checkpoint", error=CheckpointError) as f:
        # what it cannot load safely is a CheckpointError (UnsafeCheckpointError is one too); weights that load
        # but are no run's checkpoint (a plain state dict, a safetensors file) are refused just below
        state = f.load()
    return cast(dict[str, Any], checked(state, p, expect_model=expect_model, required=True))


def checked(
    obj: Any, path: str | os.PathLike[str], *, expect_model: str | None = None, required: bool = False
) -> dict[str, Any] | None:
    """``obj``, a loaded file, if it is a cnnzoo run's checkpoint (None if it is other weights, unless
    ``required``) found to be what :class:`Checkpoint` describes, and of ``expect_model``: else a
    :class:`CheckpointError`."""
    is_run = isinstance(obj, dict) and "model" in obj and "model_name" in obj
    if not (is_run or required):
        return None
    problem = (
        checkpoint_problem(obj)
        if is_run
        else "it has no 'model'/'model_name' entries, as a run's has (plain weights load with --pretrained PATH)"
    )
    if problem is not None:
        raise CheckpointError(f"{path} is not a usable cnnzoo checkpoint: {problem}; resume from a run's last.pt")
    check_joins(obj, path, model=expect_model)
    return obj


def _names(classes: list[str]) -> str:
    return "[" + ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "") + "]"


def check_joins(
    state: dict[str, Any],
    path: str | os.PathLike[str] | None,
    *,
    model: str | None = None,
    classes: list[str] | None = None,
    num_classes: int | None = None,
    in_chans: int | None = None,
) -> None:
    """Refuse (one line saying every difference) a checkpoint whose model, classes, number of classes
    or input channels differ from those of the run it joins; what is not given is not compared."""
    differences = []
    if model is not None and state["model_name"].partition(".")[0] != model.partition(".")[0]:  # tags aside
        differences.append(f"is of model '{state['model_name']}', not '{model}'")
    saved = state.get("classes")
    if classes is not None and saved and list(saved) != list(classes):
        differences.append(f"was trained on classes {_names(saved)} and this data has {_names(classes)}")
    for key, now, what in (("num_classes", num_classes, "classes"), ("in_chans", in_chans, "input channels")):
        if now is not None and state.get(key) is not None and state[key] != now:
            differences.append(f"has {state[key]} {what} and this run {now}")
    if differences:
        name = f"checkpoint {path}" if path is not None else "the checkpoint"
        raise CheckpointError(
            f"{name} {'; it '.join(differences)}; use it with its own model (--model {state['model_name']}), "
            "data and arguments, or another checkpoint"
        )
