"""``TrainConfig``: every setting of a training run, and its YAML form.

A run is described by one flat dataclass so that a YAML recipe, the command line and the
Python API all name the same keys (``batch_size`` in YAML is ``--batch-size`` on the
command line and ``batch_size=`` in :func:`cnnzoo.train`). Unknown keys, wrong types and
impossible values are :class:`~cnnzoo.errors.ConfigError`\\ s that name the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from .errors import ConfigError, suggest

__all__ = ["TrainConfig", "load_config", "save_config", "merge_config", "resolve_config"]

CHOICES: dict[str, tuple[Any, ...]] = {
    "optimizer": ("sgd", "adamw"),
    "schedule": ("cosine", "step", "constant"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "augment": ("auto", "none", "crop_flip", "rrc_flip"),
    "auto_augment": (None, "ta_wide", "randaugment", "autoaugment"),
    "bad_images": ("error", "skip"),
}
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass
class TrainConfig:
    """The settings of one training run (all keys of a YAML recipe).

    Defaults are a generic recipe for small data on a CPU (SGD with Nesterov momentum,
    cosine schedule, no augmentation on the built-in digits): it trains ``lenet5`` on the
    digits to >= 97 % in seconds. ``configs/*.yaml`` hold the published recipes. Sizes of
    ``None`` are resolved from the model and the data (see :func:`cnnzoo.train`).
    """

    # -- what is trained, on what
    model: str = "lenet5"
    data: str = "digits"
    model_kwargs: dict[str, Any] | None = None  # constructor arguments, e.g. {variant: paper} for lenet5
    pretrained: str | bool | None = None
    freeze_backbone: bool = False
    input_size: int | None = None      # train crop; None = from the model and the data
    val_input_size: int | None = None  # eval crop; None = input_size
    val_resize: int | None = None      # eval resize before the center crop; None = crop / 0.875
    in_chans: int | None = None        # None = the model's own (1 for lenet5, 3 otherwise)
    # -- optimisation
    epochs: int = 10
    batch_size: int = 32                     # per process: with N processes the global batch is N x this
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    norm_weight_decay: float | None = None  # for BN/GN/LN weights and biases; None = weight_decay
    layer_decay: float | None = None   # lr x layer_decay^k for the unit k steps below the head
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    warmup_decay: float = 0.01               # the warmup starts at lr x warmup_decay
    min_lr: float = 0.0
    step_size: int = 30                      # schedule "step": decay every step_size epochs ...
    milestones: list[int] | None = None  # ... or at these epochs
    gamma: float = 0.1
    grad_accum: int = 1
    clip_grad: float | None = None
    # -- regularisation and augmentation
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    augment: str = "auto"
    auto_augment: str | None = None
    random_erase: float = 0.0
    bad_images: str = "error"  # image folders: an undecodable file stops the run, or is skipped and counted
    ema: bool = False
    ema_decay: float = 0.999
    ema_every: int = 1
    aux_weight: float = 0.3                  # GoogLeNet's auxiliary losses (Szegedy et al. 2014, Sec. 5)
    # -- hardware
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None  # None = on for CUDA, off for CPU
    compile: bool = False
    sync_bn: bool = False
    workers: int | None = None
    threads: int | None = None               # CPU threads per process; None = the idle cores (see auto_cpu_threads)
    # -- the run itself
    output: str | None = None
    seed: int = 0
    deterministic: bool = False
    max_steps: int | None = None
    limit_batches: int | None = None
    log_every: int = 50
    verbose: bool = True

    def __post_init__(self) -> None:
        for f in fields():
            setattr(self, f.name, _check_type(f.name, getattr(self, f.name)))
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ConfigError` for a value no run can use (after type checks)."""
        positive_int = ("epochs", "batch_size", "grad_accum", "log_every", "step_size", "ema_every")
        for key in positive_int:
            _require(key, getattr(self, key) >= 1, ">= 1")
        for key in ("max_steps", "limit_batches", "input_size", "val_input_size", "val_resize", "in_chans",
                    "threads"):
            value = getattr(self, key)
            _require(key, value is None or value >= 1, ">= 1 (or null)")
        _require("lr", self.lr > 0, "> 0")
        _require("workers", self.workers is None or self.workers >= 0, ">= 0 (or null for automatic)")
        _require("seed", self.seed >= 0, ">= 0")
        _require("momentum", 0 <= self.momentum < 1, "in [0, 1)")
        for key in ("weight_decay", "min_lr", "warmup_epochs", "mixup", "cutmix"):
            _require(key, getattr(self, key) >= 0, ">= 0")
        _require("norm_weight_decay", self.norm_weight_decay is None or self.norm_weight_decay >= 0, ">= 0")
        _require("warmup_epochs", self.warmup_epochs <= self.epochs, f"<= epochs ({self.epochs})")
        _require("warmup_decay", 0 < self.warmup_decay <= 1, "in (0, 1]")
        _require("gamma", 0 < self.gamma <= 1, "in (0, 1]")
        _require("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)")
        _require("random_erase", 0 <= self.random_erase <= 1, "in [0, 1]")
        _require("ema_decay", 0 < self.ema_decay < 1, "in (0, 1)")
        _require("aux_weight", self.aux_weight >= 0, ">= 0")
        _require("layer_decay", self.layer_decay is None or 0 < self.layer_decay <= 1, "in (0, 1]")
        _require("clip_grad", self.clip_grad is None or self.clip_grad > 0, "> 0")
        if self.milestones is not None:
            ok = all(m >= 1 for m in self.milestones) and self.milestones == sorted(set(self.milestones))
            _require("milestones", ok, "increasing epochs >= 1")
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                shown = ", ".join("null" if a is None else a for a in allowed)
                raise ConfigError(f"{key} must be one of {shown}; got {value!r}")
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N; got {self.device!r}")
        if not self.model:
            raise ConfigError("model must name a registered model (cnnzoo list shows them)")
        if self.freeze_backbone and self.layer_decay is not None:
            raise ConfigError("freeze_backbone and layer_decay exclude each other: a frozen "
                              "backbone has no learning rate to decay; choose one")

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
    return [f for f in dataclasses.fields(TrainConfig) if not f.name.startswith("_")]


_HINTS: dict[str, Any] = {}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(TrainConfig))
    return _HINTS


def _require(key: str, ok: bool, what: str) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {what}")


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


def _check_type(key: str, value: Any) -> Any:
    """``value`` converted to ``key``'s type (int -> float only), or a ConfigError."""
    hint = _hints()[key]
    ok, converted = _match(value, hint)
    if not ok:
        raise ConfigError(f"{key} must be {_type_name(hint)}, got {value!r} ({type(value).__name__})")
    return converted


def _match(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, converted = _match(value, arg)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is Any:
        return True, value
    if origin is dict:
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        return ok, dict(value) if ok else value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        (item,) = typing.get_args(hint)
        out = []
        for v in value:
            ok, converted = _match(v, item)
            if not ok:
                return False, value
            out.append(converted)
        return True, out
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    return isinstance(value, hint), value


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
            raise ConfigError(f"{source}: unknown config key {str(raw_key)!r}{hint}")  # repr: one line whatever the key
        out[key] = value
    return out


def merge_config(base: TrainConfig | dict[str, Any] | None, overrides: dict[str, Any],
                 *, source: str = "arguments") -> TrainConfig:
    """``base`` with ``overrides`` applied on top (both validated); returns a new config."""
    merged = TrainConfig().to_dict() if base is None else (
        base.to_dict() if isinstance(base, TrainConfig) else dict(_normalise_keys(base, "config")))
    merged.update(_normalise_keys(overrides, source))
    return TrainConfig(**merged)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML recipe into a dict of checked keys (types are checked on merge)."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{p}:{where}: YAML syntax error: {problem}") from None
    if values is None:
        return {}
    values = _normalise_keys(values, str(p))
    for key, value in values.items():
        try:
            _check_type(key, value)
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from None
    return values


def save_config(config: TrainConfig, path: str | os.PathLike[str], header: str = "") -> None:
    """Write ``config`` as YAML (atomically) so that ``--config PATH`` repeats the run."""
    import yaml

    from .train_io import atomic_write_text

    body = yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=False)
    lines = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    atomic_write_text(Path(path), lines + body)


def resolve_config(config: str | os.PathLike[str] | TrainConfig | dict[str, Any] | None,
                   checkpoint_config: dict[str, Any] | None, overrides: dict[str, Any]) -> TrainConfig:
    """The settings of a run; later layers win: defaults < the resumed checkpoint's config <
    ``config`` (a YAML path, dict or TrainConfig) < ``overrides`` (arguments, options)."""
    cfg: TrainConfig | None = None
    if checkpoint_config is not None:
        # the run directory is the checkpoint's own unless given again
        cfg = merge_config(None, {**checkpoint_config, "output": None}, source="checkpoint config")
    if config is not None:
        if isinstance(config, TrainConfig):
            values, source = config.to_dict(), "config"
        elif isinstance(config, dict):
            values, source = config, "config"
        else:
            values, source = load_config(config), str(config)
        cfg = merge_config(cfg, values, source=source)
    return merge_config(cfg, overrides, source="arguments")
