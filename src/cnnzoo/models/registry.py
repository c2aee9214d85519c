"""Model registry: names -> constructors and the metadata a user asks about.

``@register_model(...)`` sits on each public constructor and carries what the paper says
(title, authors, year) and what the network was designed for (its input size and number of
classes: the defaults of ``num_classes`` and ``in_chans``). Everything else about a network
(its minimum input, its first convolution and classifiers) is read from the network itself.
The decorated function builds the model with those defaults and gives it its
``pretrained_cfg``, so calling it directly (``cnnzoo.models.resnet.resnet50()``) and
``cnnzoo.create_model("resnet50")`` return the same thing. The registry knows nothing of
weights: :mod:`cnnzoo.factory` joins the two, and gives :func:`pretrained_cfg`, the one place
a ``pretrained_cfg`` is assembled, what the loaded weights say.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from ..errors import DuplicateModelError, InvalidArgumentError, UnknownModelError, shown, suggest
from ..preprocessing import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD
from .base import classifier_names, first_conv_name

__all__ = [
    "ModelInfo",
    "register_model",
    "list_models",
    "get_model_entry",
    "is_model",
    "pretrained_cfg",
    "set_pretrained_cfg",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model name."""

    name: str
    constructor: Callable[..., Any] = field(repr=False, compare=False)
    family: str = "custom"
    paper: str = ""
    authors: str = ""
    year: int | None = None
    url: str = ""
    #: the input the network was designed for, (C, H, W); C is the default ``in_chans``
    input_size: tuple[int, int, int] = (3, 224, 224)
    #: the default ``num_classes`` (None: the constructor's own default)
    num_classes: int | None = None
    notes: str = ""
    #: the metadata given at registration (the defaults a call fills in)
    declared: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("constructor", "declared")}

    def defaults(self) -> dict[str, Any]:
        """The constructor arguments the registration declares: ``num_classes`` and ``in_chans``."""
        out: dict[str, Any] = {}
        if self.num_classes is not None:
            out["num_classes"] = self.num_classes
        if "input_size" in self.declared:
            out["in_chans"] = self.input_size[0]
        return out


_REGISTRY: dict[str, ModelInfo] = {}


@overload
def register_model(fn: F, /) -> F: ...
@overload
def register_model(
    fn: None = None, /, *, name: str | None = None, overwrite: bool = False, **meta: Any
) -> Callable[[F], F]: ...
def register_model(
    fn: F | None = None, /, *, name: str | None = None, overwrite: bool = False, **meta: Any
) -> F | Callable[[F], F]:
    """Register a model constructor under its function name (or ``name``).

    Use bare (``@register_model``) on your own constructor, or with metadata:
    ``@register_model(family="resnet", paper="Deep Residual Learning...", year=2015,
    input_size=(3, 224, 224), num_classes=1000)``. The constructor takes ``num_classes``
    and ``in_chans`` keyword arguments; ``num_classes`` and ``input_size`` given here are
    their defaults. Returns the constructor wrapped so that every call (directly or through
    ``create_model``) fills in those defaults and sets the model's ``pretrained_cfg``.
    Registering a name twice is an error unless ``overwrite=True``.
    """

    def decorate(f: F) -> F:
        key = name or getattr(f, "__name__", None)
        if not isinstance(key, str) or not key or not key.isidentifier():
            raise InvalidArgumentError(f"a model name must be a Python identifier (letters, digits, '_'), got {key!r}")
        if key in _REGISTRY and not overwrite:
            raise DuplicateModelError(
                f"model '{key}' is already registered (by {_REGISTRY[key].constructor.__module__}); "
                "pick another name or pass overwrite=True"
            )
        unknown = set(meta) - (set(ModelInfo.__dataclass_fields__) - {"name", "constructor", "declared"})
        if unknown:
            raise InvalidArgumentError(f"register_model got unknown metadata {sorted(unknown)}")
        if "input_size" in meta:
            meta["input_size"] = tuple(meta["input_size"])

        @functools.wraps(f)
        def build(*args: Any, **kwargs: Any) -> Any:
            model = f(*args, **{**info.defaults(), **kwargs})
            set_pretrained_cfg(model, pretrained_cfg(model, info))
            # the arguments it was built with, which rebuild it (timm's _model_args; a hub config's model_args)
            model._model_args = dict(kwargs)
            return model

        info = ModelInfo(name=key, constructor=build, declared=frozenset(meta), **meta)
        _REGISTRY[key] = info
        return build  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def list_models(
    pattern: str | list[str] = "*", *, family: str | None = None, exclude: str | list[str] | None = None
) -> list[str]:
    """Registered model names matching shell wildcard ``pattern`` (or any of a list), sorted; ``family`` (a
    registered one, else :class:`InvalidArgumentError`) keeps that family's only."""
    families = sorted({info.family for info in _REGISTRY.values()})
    if family is not None and family not in families:
        hint = suggest(family, families) if isinstance(family, str) else []
        mean = f"did you mean {', '.join(hint)}? " if hint else ""
        raise InvalidArgumentError(f"unknown family {shown(family)}; {mean}(the families: {', '.join(families)})")
    pats = [pattern] if isinstance(pattern, str) else list(pattern)
    excl = [] if exclude is None else ([exclude] if isinstance(exclude, str) else list(exclude))
    names = [
        n
        for n, info in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p) for p in pats)
        and not any(fnmatch.fnmatchcase(n, e) for e in excl)
        and (family is None or info.family == family)
    ]
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    # resnet18 < resnet34 < resnet50 < resnet101, as a reader expects
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def get_model_entry(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; unknown names raise :class:`UnknownModelError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, _REGISTRY) from None


def is_model(name: str) -> bool:
    return name in _REGISTRY


def pretrained_cfg(model: nn.Module, info: ModelInfo, weights: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``pretrained_cfg`` of a model (timm's record): what it is and how to feed it.

    The architecture facts are read from the model (``num_classes``, ``in_chans``, minimum
    and fixed input size, first convolution, classifiers: a tuple where there are several,
    as timm allows); the design input size from the registry; the preprocessing is
    ImageNet's (3 channels) or mean 0.5 / std 0.5, unless ``weights`` (what the weights
    loader found: tag, file, preprocessing, class names, source) says otherwise.
    """
    chans = int(getattr(model, "in_chans", info.input_size[0]))
    heads = classifier_names(model)
    min_size = getattr(model, "min_input_size", None)
    cfg: dict[str, Any] = {
        "architecture": info.name,
        "tag": None,
        "num_classes": getattr(model, "num_classes", None),
        "input_size": (chans, *info.input_size[1:]),
        "min_input_size": tuple(min_size) if min_size is not None else None,
        "fixed_input_size": bool(getattr(model, "fixed_input_size", False)),
        "interpolation": "bilinear",
        "crop_pct": DEFAULT_CROP_PCT,
        "mean": IMAGENET_MEAN if chans == 3 else (0.5,) * chans,
        "std": IMAGENET_STD if chans == 3 else (0.5,) * chans,
        "pool_size": _pool_size(model, (chans, *info.input_size[1:])),
        "first_conv": first_conv_name(model),
        "classifier": heads[0] if len(heads) == 1 else heads,
    }
    cfg.update(weights or {})
    return cfg


def _pool_size(model: nn.Module, input_size: tuple[int, ...]) -> tuple[int, int] | None:
    """The (h, w) of ``forward_features``' map at ``input_size`` (timm's ``pool_size``).

    Measured, not derived from strides (AlexNet's unpadded convolutions give 6 x 6 at 224, not
    224 / 32): one forward of shapes only (:class:`_ShapesOnly`), remembered per architecture
    (its class, stages and first convolution), since a build must stay cheap. None for a model
    without ``forward_features`` or whose design input is below its minimum.
    """
    features = getattr(model, "forward_features", None)
    if not callable(features):
        return None
    key = (
        type(model),
        input_size,
        repr(getattr(model, "feature_info", None)),
        sum(1 for _ in model.modules()),
        repr(next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)),
    )
    if key not in _POOL_SIZES:
        try:
            with torch.no_grad(), _ShapesOnly():
                out = features(torch.empty(2, *input_size, device="meta"))
        except InvalidArgumentError:  # the design input is below the network's minimum (a narrowed variant)
            return None
        _POOL_SIZES[key] = (int(out.shape[-2]), int(out.shape[-1])) if out.ndim == 4 else None
    return _POOL_SIZES[key]


_POOL_SIZES: dict[tuple[Any, ...], tuple[int, int] | None] = {}
_F = nn.functional
#: functions that keep their input's shape: skipped in a shapes-only forward (their meta kernels are slow)
_SHAPE_KEEPING = (_F.batch_norm, _F.layer_norm, _F.group_norm, _F.instance_norm, _F.local_response_norm, _F.dropout)


class _ShapesOnly(TorchFunctionMode):
    """A forward that computes shapes only: every tensor an operation meets moves to the meta device
    (a view of no data), and normalisations, which keep the shape, are skipped."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in _SHAPE_KEEPING:
            return args[0]

        def meta(t: Any) -> Any:
            return t.to("meta") if isinstance(t, torch.Tensor) and not t.is_meta else t

        return func(*tree_map(meta, args), **tree_map(meta, kwargs or {}))


def set_pretrained_cfg(model: nn.Module, cfg: dict[str, Any]) -> None:
    """Give ``model`` its ``pretrained_cfg`` (and timm's older name for it, ``default_cfg``)."""
    # plain attributes, not modules or tensors (setattr: nn.Module's __setattr__ is typed for those)
    setattr(model, "pretrained_cfg", cfg)  # noqa: B010
    setattr(model, "default_cfg", cfg)  # noqa: B010
