"""Model registry: names -> constructors and the metadata a user asks about.

``@register_model(...)`` sits on each public constructor and carries what the paper says
(title, authors, year) and what the network expects (input size, the names of its first
convolution and its classifier, used to adapt pretrained weights). The registry knows
nothing of weights: ``cnnzoo.model_info`` (in ``factory``) joins the two.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from .errors import DuplicateModelError, UnknownModelError

__all__ = ["ModelInfo", "register_model", "list_models", "get_model_entry", "is_model"]

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
    #: the input the network was designed for, (C, H, W)
    input_size: tuple[int, int, int] = (3, 224, 224)
    #: the smallest (C, H, W) the network accepts (after every stride the map is >= 1x1)
    min_input_size: tuple[int, int, int] = (3, 32, 32)
    #: True where the classifier is tied to one spatial size (LeNet-5's C5, AlexNet's fc6)
    fixed_input_size: bool = False
    #: module names used to adapt pretrained weights (in_chans, num_classes)
    first_conv: str = "conv1"
    classifier: str = "fc"
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "constructor"}


_REGISTRY: dict[str, ModelInfo] = {}


@overload
def register_model(fn: F) -> F: ...
@overload
def register_model(fn: None = None, **meta: Any) -> Callable[[F], F]: ...
def register_model(fn: F | None = None, *, name: str | None = None, overwrite: bool = False,
                   **meta: Any) -> F | Callable[[F], F]:
    """Register a model constructor under its function name (or ``name``).

    Use bare (``@register_model``) on your own constructor, or with metadata:
    ``@register_model(family="resnet", paper="Deep Residual Learning...", year=2015)``.
    The constructor must accept ``num_classes`` and ``in_chans`` keyword arguments.
    Registering a name twice is an error unless ``overwrite=True``.
    """

    def decorate(f: F) -> F:
        key = name or f.__name__
        if key in _REGISTRY and not overwrite:
            raise DuplicateModelError(
                f"model '{key}' is already registered (by {_REGISTRY[key].constructor.__module__}); "
                "pick another name or pass overwrite=True")
        if "." in key:
            raise DuplicateModelError(f"model name '{key}' may not contain '.', which separates weight tags")
        unknown = set(meta) - (set(ModelInfo.__dataclass_fields__) - {"name", "constructor"})
        if unknown:
            raise TypeError(f"register_model got unknown metadata {sorted(unknown)}")
        for size_key in ("input_size", "min_input_size"):
            if size_key in meta:
                meta[size_key] = tuple(meta[size_key])
        _REGISTRY[key] = ModelInfo(name=key, constructor=f, **meta)
        return f

    return decorate(fn) if fn is not None else decorate


def list_models(pattern: str | list[str] = "*", *, family: str | None = None,
                exclude: str | list[str] | None = None) -> list[str]:
    """Registered model names matching shell wildcard ``pattern`` (or any of a list), sorted."""
    pats = [pattern] if isinstance(pattern, str) else list(pattern)
    excl = [] if exclude is None else ([exclude] if isinstance(exclude, str) else list(exclude))
    names = [n for n, info in _REGISTRY.items()
             if any(fnmatch.fnmatchcase(n, p) for p in pats)
             and not any(fnmatch.fnmatchcase(n, e) for e in excl)
             and (family is None or info.family == family)]
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
