"""``TrainConfig``: every setting of a training run, and its YAML form.

A run is described by one flat dataclass so that a YAML recipe, the command line and the
Python API all name the same keys (``batch_size`` in YAML is ``--batch-size`` on the
command line and ``batch_size=`` in :func:`cnnzoo.train`). Unknown keys, wrong types and
impossible values are :class:`~cnnzoo.errors.ConfigError`\\ s that name the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..atomic import atomic_write
from ..device import DEVICE_SPEC, PRECISIONS
from ..errors import ConfigError, shown, suggest
from ..limits import LIMITS, conform
from ..reading import MAX_TEXT_BYTES, read_bytes

__all__ = [
    "TrainConfig",
    "fields",
    "choices",
    "load_config",
    "save_config",
    "merge_config",
    "resolve_config",
    "add_config_options",
    "list_recipes",
    "recipe_path",
    "RECIPES_DIR",
]

#: constructor arguments a run sets itself (the data fixes the classes; --in-chans, --pretrained)
RUN_OWNED_MODEL_ARGS = ("num_classes", "in_chans", "pretrained", "arch_name")


def _opt(default: Any, help: str, **cli: Any) -> Any:
    """A config field with its command-line help: ``cnnzoo train``'s options are made from these.

    ``cli`` may hold ``metavar``, ``flag`` (the option's name, where it is not
    ``--<key-with-dashes>``), ``cli=False`` (not an option) and what a value of the field's type
    must also be, checked with its type (:func:`_check_type`): ``choices``; ``within``, the interval a
    number must lie in, as ``"[0, 1)"`` (an integer is a count, ``"[1, inf)"``, and a float a
    non-negative number, ``"[0, inf)"``, unless it says otherwise, and an integer's upper end is its
    bound in :data:`~cnnzoo.limits.LIMITS`); or ``admits``, a test of a non-null value and its words.
    """
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """The settings of one training run (all keys of a YAML recipe; each is a ``cnnzoo train`` option).

    Defaults are a generic recipe for small data on a CPU (SGD with Nesterov momentum,
    cosine schedule, no augmentation on the built-in digits): it trains ``lenet5`` on the
    digits to >= 97 % in seconds. ``cnnzoo/recipes/*.yaml`` hold the published recipes, found
    by name (``--config resnet56_cifar10``). Sizes of ``None`` are resolved from the model and
    the data (see :func:`cnnzoo.train`).
    """

    # -- what is trained, on what
    model: str = _opt(
        "lenet5",
        "registered model name (cnnzoo list)",
        admits=(bool, "a registered model's name (cnnzoo list shows them)"),
    )
    data: str = _opt(
        "digits",
        "digits (default) | mnist:DIR | cifar10:DIR | cifar100:DIR | DIR (train/ + val/ class folders) | synthetic[:N]",
    )
    model_kwargs: dict[str, Any] | None = _opt(
        None,
        "a constructor argument (repeatable), e.g. --model-arg variant=paper",
        flag="--model-arg",
        metavar="KEY=VALUE",
        admits=(
            lambda kwargs: not set(kwargs) & set(RUN_OWNED_MODEL_ARGS),
            "constructor arguments the run does not set itself: --model-arg may not set "
            f"{', '.join(RUN_OWNED_MODEL_ARGS)} (the data fixes num_classes; use --in-chans, --pretrained)",
        ),
    )
    pretrained: str | bool | None = _opt(
        None, "start from pretrained weights: the default tag, a tag or a file", metavar="TAG|PATH"
    )
    freeze_backbone: bool = _opt(
        False,
        "train only the classifiers (VGG's/AlexNet's fc6 and fc7 are frozen too; "
        "--freeze features trains them); the frozen BN statistics stay fixed",
    )
    freeze: str | None = _opt(
        None,
        "freeze part of the network: backbone (= --freeze-backbone), features (the "
        "convolutional base), a layer name (it and every layer before it) or N (train "
        "only the last N stages and the head, torchvision's trainable_backbone_layers)",
        metavar="WHAT",
        admits=(bool, "backbone, features, a layer name or a number of stages (or null)"),
    )
    input_size: int | None = _opt(None, "training resolution (default: the model's, <= 32 for small images)")
    val_input_size: int | None = _opt(None, "evaluation crop (default: the training resolution)")
    val_resize: int | None = _opt(None, "evaluation resize before the centre crop (default: crop / 0.875)")
    in_chans: int | None = _opt(None, "input channels (default: the model's own, 1 for lenet5, else 3)")
    # -- optimisation
    epochs: int = _opt(10, "training epochs")
    batch_size: int = _opt(32, "images per batch per process (the global batch is N x this under torchrun)")
    lr: float = _opt(0.05, "peak learning rate", within="(0, inf)")
    optimizer: str = _opt("sgd", "optimiser", choices=("sgd", "adamw"))
    momentum: float = _opt(0.9, "SGD momentum", within="[0, 1)")
    nesterov: bool = _opt(True, "Nesterov momentum for SGD")
    weight_decay: float = _opt(5e-4, "weight decay")
    norm_weight_decay: float | None = _opt(None, "weight decay of normalisation layers (default: weight_decay)")
    layer_decay: float | None = _opt(
        None, "layer-wise lr: lr x F^k for the unit k steps below the head", metavar="F", within="(0, 1]"
    )
    schedule: str = _opt("cosine", "learning-rate schedule", choices=("cosine", "step", "constant"))
    warmup_epochs: float = _opt(0.0, "linear warm-up epochs")
    warmup_decay: float = _opt(0.01, "the warm-up starts at lr x this", within="(0, 1]")
    min_lr: float = _opt(0.0, "lowest learning rate of the schedule")
    step_size: int = _opt(30, "schedule step: decay every N epochs")
    milestones: list[int] | None = _opt(
        None,
        "schedule step: decay at these epochs",
        admits=(lambda m: all(e >= 1 for e in m) and m == sorted(set(m)), "increasing epochs >= 1"),
    )
    gamma: float = _opt(0.1, "schedule step: decay factor", within="(0, 1]")
    grad_accum: int = _opt(1, "accumulate K batches per optimiser step", metavar="K")
    clip_grad: float | None = _opt(None, "clip the gradient norm to this", metavar="NORM", within="(0, inf)")
    # -- regularisation and augmentation
    label_smoothing: float = _opt(0.0, "label smoothing", within="[0, 1)")
    mixup: float = _opt(0.0, "mixup alpha (0: off)", metavar="ALPHA")
    cutmix: float = _opt(0.0, "cutmix alpha (0: off)", metavar="ALPHA")
    augment: str = _opt(
        "auto", "training augmentation (auto: by data kind)", choices=("auto", "none", "crop_flip", "rrc_flip")
    )
    auto_augment: str | None = _opt(
        None, "an automatic augmentation policy", choices=(None, "ta_wide", "randaugment", "autoaugment")
    )
    random_erase: float = _opt(0.0, "random erasing probability", metavar="P", within="[0, 1]")
    decode: str = _opt(
        "cpu",
        "image folders: decode JPEGs in the loader's workers (cpu) or in batches on the "
        "training GPU (gpu: nvJPEG; the workers only read files)",
        choices=("cpu", "gpu"),
    )
    bad_images: str = _opt(
        "error",
        "image folders: stop at an undecodable image, or check every file first and skip bad ones",
        choices=("error", "skip"),
    )
    ema: bool = _opt(False, "evaluate and keep an exponential moving average of the weights")
    ema_decay: float = _opt(0.999, "EMA decay", within="(0, 1)")
    ema_every: int = _opt(1, "update the EMA every N optimiser steps")
    aux_weight: float = _opt(0.3, "weight of auxiliary losses (GoogLeNet's 0.3, Szegedy et al. 2014, Sec. 5)")
    # -- hardware
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N", admits=(DEVICE_SPEC.match, "auto, cpu, cuda or cuda:N"))
    precision: str = _opt(
        "auto",
        "auto: bf16 on a GPU that has it (else fp16); on a CPU bf16 where it computes "
        "bf16 natively (AVX512-BF16, AMX), else fp32",
        choices=PRECISIONS,
    )
    channels_last: bool | None = _opt(None, "NHWC memory format (default: on for CUDA and for bf16 on a CPU)")
    compile: bool = _opt(False, "torch.compile the model")
    sync_bn: bool = _opt(False, "SyncBatchNorm across processes")
    workers: int | None = _opt(None, "DataLoader workers per process (default: sized to the CPUs)", within="[0, inf)")
    threads: int | None = _opt(None, "CPU threads per process (default: the cores not busy with other work)")
    # -- the run itself
    output: str | None = _opt(None, "run directory (default runs/<model>-<time>)")
    overwrite: bool = _opt(
        False,
        "replace the results of a previous run in --output (last.pt, best.pt, "
        "metrics.csv); without it a new run there is refused",
    )
    seed: int = _opt(0, "random seed", within="[0, inf)")
    deterministic: bool = _opt(False, "only deterministic kernels: a resumed run ends with the same weights")
    max_steps: int | None = _opt(None, "stop after N optimiser steps (smoke tests)")
    limit_batches: int | None = _opt(None, "at most N training and N validation batches per epoch (smoke tests)")
    save_every: int | None = _opt(
        None,
        "also save a resumable checkpoint (step-N.pt) every N optimiser steps, in the middle of an epoch too",
        metavar="STEPS",
    )
    save_every_minutes: float | None = _opt(
        None,
        "also save a resumable checkpoint every M minutes (rank 0's "
        "clock, looked at when the loss is read: --log-every)",
        metavar="M",
        within="(0, inf)",
    )
    keep_last: int = _opt(
        2, "keep the newest K step-N.pt checkpoints (last.pt and best.pt are kept apart)", metavar="K"
    )
    dist_timeout: float = _opt(
        1800.0,
        "seconds a process waits for the others (joining, each collective) before "
        "it stops with an error instead of hanging",
        metavar="SECONDS",
        within="(0, inf)",
    )
    sigusr1: bool = _opt(
        False,
        "SIGUSR1 stops the run as SIGTERM does: every process at the same step, a "
        "checkpoint, exit 138 (SLURM's --signal=USR1@SECONDS)",
    )
    log_every: int = _opt(50, "read the loss (one device sync) and log the step/ values every N steps", metavar="N")
    log: str = _opt(
        "none",
        "also write TensorBoard event files into the run directory (extra cnnzoo[tensorboard])",
        choices=("none", "tensorboard"),
    )
    verbose: bool = _opt(True, "progress lines (--quiet: none)", flag="--quiet")

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` for a value no run can use: each setting by its type and its
        field's table entries (:func:`_check_type`), then the settings that must agree."""
        for f in fields():
            setattr(self, f.name, _check_type(f.name, getattr(self, f.name)))
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"warmup_epochs must be <= epochs ({self.epochs}), got {self.warmup_epochs:g}")
        if self.freeze_backbone and self.freeze not in (None, "backbone"):
            raise ConfigError(
                f"freeze_backbone and freeze={shown(self.freeze)} say different things: "
                "freeze_backbone is freeze=backbone; give one"
            )
        if (self.freeze_backbone or self.freeze in ("backbone", "features")) and self.layer_decay is not None:
            raise ConfigError(
                "freezing the backbone and layer_decay exclude each other: a frozen "
                "backbone has no learning rate to decay; choose one"
            )

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (YAML- and ``torch.load(weights_only=True)``-safe)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields()}

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """Build a config from a mapping; unknown keys are errors with a suggestion."""
        return cls(**_normalise_keys(values, source))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated like a new config)."""
        return merge_config(self, changes, source="arguments")


def fields() -> list[dataclasses.Field[Any]]:
    """The settings of a run, in order (each one is a YAML key and a ``cnnzoo train`` option)."""
    return [f for f in dataclasses.fields(TrainConfig) if not f.name.startswith("_")]


def choices() -> dict[str, tuple[Any, ...]]:
    """The keys whose values are one of a few, and those values."""
    return {f.name: tuple(f.metadata["choices"]) for f in fields() if "choices" in f.metadata}


_HINTS: dict[str, Any] = {}
_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(TrainConfig))
    return _HINTS


def _outside(key: str, value: float, within: str) -> str | None:
    """What ``value`` must be to lie in the interval ``within`` (``"[0, 1)"``, ``"(0, inf)"``) and,
    for an integer, under its bound in :data:`LIMITS`; None where it does. NaN and inf lie nowhere:
    a NaN learning rate trains NaN weights, an infinite timeout never times out."""
    low, high = (float(end) for end in within[1:-1].split(","))
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    if value < low or value > high or (value, within[0]) == (low, "(") or (value, within[-1]) == (high, ")"):
        return f"in {within}" if math.isfinite(high) else f"{'>=' if within[0] == '[' else '>'} {low:g}"
    if key in LIMITS and value > LIMITS[key]:
        return f"at most {LIMITS[key]:,}"
    return None


def _type_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(args[0])}"
    if typing.get_origin(hint) is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _unfit(key: str, value: Any) -> str | None:
    """What ``value``, of ``key``'s type, must also be by its field's ``choices``, ``admits`` or
    ``within`` (see :func:`_opt`); None where it is."""
    meta = _FIELDS[key].metadata
    if "choices" in meta:
        names = ", ".join("null" if a is None else a for a in meta["choices"])
        return None if value in meta["choices"] else f"one of {names}"
    if value is None:
        return None
    if "admits" in meta:
        test, words = meta["admits"]
        return None if test(value) else words
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _outside(key, value, meta.get("within", "[1, inf)" if isinstance(value, int) else "[0, inf)"))
    return None


def _check_type(key: str, value: Any, source: str | None = None) -> Any:
    """``value`` converted to ``key``'s type (int -> float only) and found to be what its field admits
    (:func:`_unfit`): the one check of a setting, or a ConfigError that names ``source`` (the recipe
    file, "arguments") where it is known."""
    hint = _hints()[key]
    ok, converted = conform(value, hint)
    wanted = _unfit(key, converted) if ok else _type_name(hint)
    if wanted:
        where, kind = f"{source}: " if source else "", "" if ok else f" ({type(value).__name__})"
        raise ConfigError(f"{where}{key} must be {wanted}, got {shown(value)}{kind}")
    return converted


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _normalise_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: a config must be a mapping of keys to values, got {type(values).__name__}")
    names = [f.name for f in fields()]
    out: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")  # `batch-size:` as on the command line is accepted
        if key not in names:
            close = suggest(key, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{source}: unknown config key {shown(str(raw_key))}{hint}")  # one line whatever the key
        out[key] = _check_type(key, value, source)
    return out


def merge_config(
    base: TrainConfig | dict[str, Any] | None, overrides: dict[str, Any], *, source: str = "arguments"
) -> TrainConfig:
    """``base`` with ``overrides`` applied on top (both validated); returns a new config."""
    merged = (
        TrainConfig().to_dict()
        if base is None
        else (base.to_dict() if isinstance(base, TrainConfig) else dict(_normalise_keys(base, "config")))
    )
    merged.update(_normalise_keys(overrides, source))
    return TrainConfig(**merged)


_MAX_ALIASES = 64


def _recipe_loader() -> type:
    import yaml

    class RecipeLoader(yaml.SafeLoader):
        """yaml.safe_load's loader, refusing documents of many aliases: 400 bytes of nested
        aliases expand to gigabytes once anything walks them (a "billion laughs")."""

        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > _MAX_ALIASES:
                    raise yaml.YAMLError(f"more than {_MAX_ALIASES} YAML aliases (*name): a recipe needs none; refused")
            return super().compose_node(parent, index)

    return RecipeLoader


#: the recipes shipped inside the package, found by name (``--config resnet56_cifar10``)
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def list_recipes() -> list[str]:
    """The names of the shipped recipes (``cnnzoo/recipes/NAME.yaml``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(config: str | os.PathLike[str]) -> Path:
    """The file of a ``--config`` value: a path as given, else the shipped recipe of that name.

    A file of that name in the working directory wins over a shipped recipe, so that a
    local copy can be edited and run under the same name.
    """
    p = Path(config)
    if p.exists() or len(p.parts) != 1:
        return p
    name = p.stem if p.suffix in (".yaml", ".yml") else p.name
    if (RECIPES_DIR / f"{name}.yaml").is_file():
        return RECIPES_DIR / f"{name}.yaml"
    close = suggest(name, list_recipes(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise ConfigError(
        f"config {shown(str(config))} is neither a file nor a shipped recipe{hint}; the recipes "
        f"are {', '.join(list_recipes())}"
    )


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML recipe (a file, or a shipped recipe's name) into a dict of checked keys and types."""
    import yaml

    p = recipe_path(path)
    raw = read_bytes(
        p, "config file", limit=MAX_TEXT_BYTES, error=ConfigError, pipe=True, hint="; a recipe is a few hundred"
    )  # ``--config <(...)`` is a pipe
    try:  # YAML's reader decodes the bytes (UTF-8, or UTF-16 with its BOM): bytes that are neither are its error
        values = yaml.load(raw, Loader=_recipe_loader())  # noqa: S506 - a SafeLoader, with few aliases
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f": line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{p}{where}: YAML syntax error: {shown(problem)[1:-1]}") from None
    return {} if values is None else _normalise_keys(values, str(p))


def save_config(config: TrainConfig, path: str | os.PathLike[str], header: str = "") -> None:
    """Write ``config`` as YAML (atomically) so that ``--config PATH`` repeats the run."""
    import yaml

    body = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)
    lines = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    atomic_write(path, lines + body)


def resolve_config(
    config: str | os.PathLike[str] | TrainConfig | dict[str, Any] | None,
    checkpoint_config: dict[str, Any] | None,
    overrides: dict[str, Any],
) -> TrainConfig:
    """The settings of a run; later layers win: defaults < the resumed checkpoint's config <
    ``config`` (a YAML path, dict or TrainConfig) < ``overrides`` (arguments, options)."""
    cfg: TrainConfig | None = None
    if checkpoint_config is not None:
        # the run directory is the checkpoint's own unless given again
        cfg = merge_config(None, {**checkpoint_config, "output": None, "overwrite": False}, source="checkpoint config")
    if config is not None:
        if isinstance(config, TrainConfig):
            values, source = config.to_dict(), "config"
        elif isinstance(config, dict):
            values, source = config, "config"
        else:
            values, source = load_config(config), str(config)
        cfg = merge_config(cfg, values, source=source)
    return merge_config(cfg, overrides, source="arguments")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One command-line option per setting, made from the fields' types, help and choices.

    ``--batch-size N`` sets ``batch_size``; a boolean is a switch (``--ema``; ``--no-nesterov``
    where the default is on; ``--channels-last``/``--no-channels-last`` where the default
    depends on the device); a list takes several values; ``model_kwargs`` is the repeatable
    ``--model-arg KEY=VALUE``. Options left out keep the parser's default (``SUPPRESS``), so
    that only what is given overrides a recipe.
    """
    for f in fields():
        meta = f.metadata
        hint = str(f.type)  # the annotation as written ("int | None", "list[int] | None" ...)
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
        if "metavar" in meta:
            kwargs["metavar"] = meta["metavar"]
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        if f.name == "model_kwargs":
            kwargs["action"] = "append"
        elif f.name == "verbose":
            kwargs["action"] = "store_false"
        elif f.name == "pretrained":
            kwargs.update(nargs="?", const=True)
        elif hint == "bool":
            if f.default:
                flag, kwargs["action"] = "--no-" + f.name.replace("_", "-"), "store_false"
                kwargs["help"] = f"turn off (default on): {meta['help']}"
            else:
                kwargs["action"] = "store_true"
        elif hint == "bool | None":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            base = hint.replace(" | None", "")
            if base.startswith("list["):
                kwargs["nargs"], base = "+", base[5:-1]
            kwargs["type"] = {"int": int, "float": float, "str": str}[base]
            if "choices" in meta:
                kwargs["choices"] = [c for c in meta["choices"] if c is not None]
        parser.add_argument(flag, **kwargs)
