"""Building a registered network from a name and arguments: the model half of ``create_model``.

:func:`cnnzoo.create_model` (:mod:`cnnzoo.factory`) first resolves the weights a call asks
for, then builds the network with the functions here (the registry's constructor, its
arguments checked), loads the weights, and for ``features_only`` wraps the network as a
backbone here. timm's ``build_model_with_cfg`` without the loading: nothing in this module
knows of weights.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..errors import InvalidArgumentError, UnknownModelError, shown
from .arguments import check_arguments
from .backbone import FeatureDictNet, FeatureGetterNet, FeatureListNet, Indices
from .base import ZooModel, classifier_names, first_conv_name
from .layers import check_model_args
from .registry import ModelInfo, get_model_entry, list_models

__all__ = [
    "split_model_name",
    "check_constructor_args",
    "check_features_args",
    "build_model",
    "probe_model",
    "feature_extractor",
    "FEATURE_CLASSES",
    "network_accepts",
]


def split_model_name(name: str) -> tuple[str, str | None]:
    """``"resnet50.tv2_in1k"`` -> ``("resnet50", "tv2_in1k")``; no tag -> ``(name, None)``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a model name must be a non-empty string, got {shown(name)}")
    base, _, tag = name.partition(".")
    if not base.isidentifier():  # "../x", "res net", a newline: never a registered name
        raise UnknownModelError(name, list_models())
    return base, (tag or None)


def check_constructor_args(
    info: ModelInfo, kwargs: dict[str, Any], num_classes: int | None, in_chans: int | None
) -> None:
    """Refuse, before anything is built or downloaded, arguments the constructor of ``info`` does not take
    and class or channel counts that make no network."""
    params = inspect.signature(info.constructor).parameters
    names = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    accepted: list[str] | None = names
    if kwargs and any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # cnnzoo's constructors pass **kwargs on to their network class, whose own names count; a user's
        # constructor may take some of them itself (timm's pattern), which only building it shows
        network = _network_parameters(info.name) if info.constructor.__module__.startswith("cnnzoo.") else None
        accepted = None if network is None else names + sorted(network - {"self", *names})
    if accepted is not None and (unknown := [k for k in kwargs if k not in accepted]):
        raise InvalidArgumentError(
            f"{info.name} got unknown argument(s) {', '.join(unknown)}; it accepts {', '.join(accepted)}"
        )
    check_model_args(1000 if num_classes is None else num_classes, 3 if in_chans is None else in_chans)


#: the names of FEATURE_CLASSES, which the check of create_model's arguments reads (create_model itself
#: annotates a str, which is what type checkers see)
if TYPE_CHECKING:
    FeatureCls = str
else:
    FeatureCls = Literal["list", "dict", "getter"]
#: ``feature_cls`` names -> the extractor classes (timm's names; "getter" runs ``forward_intermediates``)
FEATURE_CLASSES: dict[str, type[FeatureListNet]] = {
    "list": FeatureListNet,
    "dict": FeatureDictNet,
    "getter": FeatureGetterNet,
}


def check_features_args(features_only: bool, out_indices: Indices, feature_cls: FeatureCls) -> None:
    """Refuse ``features_only`` arguments that choose no feature extractor (``create_model``'s): the
    flag and the class by their annotations, ``out_indices`` with the stages it chooses (feature_take_indices)."""
    check_arguments(
        "create_model", check_features_args, (), {"features_only": features_only, "feature_cls": feature_cls}
    )
    if not features_only and out_indices is not None:
        raise InvalidArgumentError(
            "out_indices chooses the stages of a feature extractor: pass features_only=True with it"
        )


def build_model(
    info: ModelInfo, kwargs: dict[str, Any], num_classes: int | None = None, in_chans: int | None = None
) -> nn.Module:
    """The network of ``info`` built with ``kwargs`` (and ``num_classes``/``in_chans`` where given).

    A constructor's argument-binding errors and allocations beyond the memory there is are
    the user's: :class:`~cnnzoo.errors.InvalidArgumentError`.
    """
    ctor_kwargs = dict(kwargs)
    if num_classes is not None:
        ctor_kwargs["num_classes"] = num_classes
    if in_chans is not None:
        ctor_kwargs["in_chans"] = in_chans
    try:
        return info.constructor(**ctor_kwargs)
    except TypeError as e:
        # only the argument-binding errors are the user's; any other TypeError is a bug
        if "keyword argument" not in str(e) and "multiple values for argument" not in str(e):
            raise
        raise InvalidArgumentError(f"{info.name}: {e}; see help(cnnzoo.models) for its arguments") from None
    except RuntimeError as e:  # arguments that pass the checks but need more memory than there is
        if "allocate" not in str(e):
            raise
        raise InvalidArgumentError(
            f"{info.name} with these arguments does not fit in memory ({str(e).splitlines()[0][:160]})"
        ) from None


@functools.cache
def _network_parameters(name: str) -> frozenset[str] | None:
    """The parameter names of the network class ``name`` builds (None: it takes ``**kwargs`` too)."""
    info = get_model_entry(name)
    with torch.device("meta"):
        model = build_model(info, {})
    params = inspect.signature(type(model).__init__).parameters
    return None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else frozenset(params)


def network_accepts(info: ModelInfo, argument: str) -> bool:
    """Whether the network class that ``info`` builds takes ``argument`` (read from a default build on
    the meta device: a registered constructor passes its keyword arguments on to that class)."""
    params = _network_parameters(info.name)
    return params is not None and argument in params


def probe_model(info: ModelInfo, kwargs: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(first convolution, classifiers) of the network these arguments build, read on the meta device.

    What a weights file is read against before the network is built: its input channels
    are those of the first convolution's weight, its classes those of the main classifier's.
    """
    with torch.device("meta"):
        model = build_model(info, kwargs)
    return first_conv_name(model), classifier_names(model)


def feature_extractor(
    model: nn.Module, out_indices: Indices = None, feature_cls: str = "list", norm: bool = False
) -> FeatureListNet:
    """``model`` as a backbone returning its stage outputs ``out_indices`` (timm's ``features_only``)."""
    if not isinstance(model, ZooModel):
        name = getattr(model, "pretrained_cfg", {}).get("architecture") or type(model).__name__
        raise InvalidArgumentError(
            f"{name} is not a cnnzoo network (ZooModel): it has no stage outputs for features_only"
        )
    return FEATURE_CLASSES[feature_cls](model, out_indices, norm)
