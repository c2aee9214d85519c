"""``create_model``: a constructor from the registry, weights from the catalogue."""

from __future__ import annotations

import inspect
import os
from typing import Any

import torch
from torch import nn

from ..errors import InvalidArgumentError, UnknownModelError, shown
from .backbone import FeatureDictNet, FeatureListNet, Indices
from .base import ZooModel, classifier_names, first_conv_name
from .layers import check_model_args
from .registry import ModelInfo, get_model_entry, list_models, set_pretrained_cfg

__all__ = ["create_model", "split_model_name"]


def split_model_name(name: str) -> tuple[str, str | None]:
    """``"resnet50.tv2_in1k"`` -> ``("resnet50", "tv2_in1k")``; no tag -> ``(name, None)``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a model name must be a non-empty string, got {shown(name)}")
    base, _, tag = name.partition(".")
    if not base.isidentifier():  # "../x", "res net", a newline: never a registered name
        raise UnknownModelError(name, list_models())
    return base, (tag or None)


def create_model(name: str, pretrained: bool | str | os.PathLike[str] = False, *,
                 num_classes: int | None = None, in_chans: int | None = None,
                 features_only: bool = False, out_indices: Indices = None, feature_cls: str = "list",
                 **kwargs: Any) -> nn.Module:
    """Build a registered model, optionally with pretrained weights.

    ``name`` is a registered name (``"resnet50"``), optionally with a weight tag
    (``"resnet50.tv2_in1k"``), or a timm checkpoint on the Hugging Face Hub
    (``"hf-hub:timm/resnetv2_50.a1h_in1k"``). ``pretrained`` is ``False``, ``True`` (the
    default or the named tag), a tag (``"tv_in1k"``), ``"hf-hub:ORG/NAME"``, or a path to a
    ``.pth``/``.safetensors`` weights file (torchvision, timm or cnnzoo layout). Without
    ``num_classes``/``in_chans`` the model is built as the weights were; different values
    replace the classifier or adapt the first convolution. Other keyword arguments go to the
    constructor; unknown ones are an :class:`~cnnzoo.errors.InvalidArgumentError`.

    ``features_only=True`` returns the network as a backbone (timm's argument): a
    :class:`~cnnzoo.models.backbone.FeatureListNet` whose forward gives the stage outputs
    ``out_indices`` (indices into the model's ``feature_info``; None: all, n: the last n) as
    a list, or with ``feature_cls="dict"`` a :class:`~cnnzoo.models.backbone.FeatureDictNet`
    (``{"0": map, ...}``). The weights load into the whole network first; then the head
    goes (and the stages after the last one asked for).
    """
    if isinstance(name, str) and name.startswith("hf-hub:"):
        # timm's syntax: the checkpoint's config.json names the architecture
        from ..weights.hfhub import hub_architecture

        if pretrained not in (False, True, None):
            raise InvalidArgumentError(f"'{name}' names its weights; pretrained={pretrained!r} names others")
        name, pretrained = hub_architecture(name), name
    base, tag = split_model_name(name)
    info = get_model_entry(base)
    _check_features_args(features_only, out_indices, feature_cls)
    want_weights = pretrained is not False and pretrained is not None
    if tag is not None and pretrained is False:
        # a tag names weights: asking for "resnet50.tv2_in1k" means those weights
        want_weights = True
        pretrained = True
    _check_kwargs(info, kwargs, num_classes, in_chans)
    weights = None
    if want_weights:
        from .. import weights as weights_api  # imported only when weights are asked for

        weights = weights_api.resolve(base, tag, pretrained, probe=lambda: _probe(info, kwargs))
        # unless asked otherwise, build the model the weights were made for
        if num_classes is None:
            num_classes = weights.num_classes
        if in_chans is None:
            in_chans = weights.in_chans
    model = _construct(info, kwargs, num_classes, in_chans)
    if weights is not None:
        record = weights_api.load_pretrained(model, weights)
        set_pretrained_cfg(model, {**getattr(model, "pretrained_cfg", {}), **record})
    if features_only:
        if not isinstance(model, ZooModel):
            raise InvalidArgumentError(f"{base} is not a cnnzoo network (ZooModel): it has no stage outputs "
                                       "for features_only")
        return (FeatureDictNet if feature_cls == "dict" else FeatureListNet)(model, out_indices)
    return model


def _check_features_args(features_only: bool, out_indices: Indices, feature_cls: str) -> None:
    if not isinstance(features_only, bool):
        raise InvalidArgumentError(f"features_only must be True or False, got {features_only!r}")
    if not features_only and out_indices is not None:
        raise InvalidArgumentError("out_indices chooses the stages of a feature extractor: "
                                   "pass features_only=True with it")
    if feature_cls not in ("list", "dict"):
        raise InvalidArgumentError(f"feature_cls must be 'list' or 'dict', got {feature_cls!r}")


def _construct(info: ModelInfo, kwargs: dict[str, Any], num_classes: int | None, in_chans: int | None) -> nn.Module:
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
        raise InvalidArgumentError(f"{info.name} with these arguments does not fit in memory "
                                   f"({str(e).splitlines()[0][:160]})") from None


def _probe(info: ModelInfo, kwargs: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(first convolution, classifiers) of the model these arguments build, read on the meta device."""
    with torch.device("meta"):
        model = _construct(info, kwargs, None, None)
    return first_conv_name(model), classifier_names(model)


def _check_kwargs(info: ModelInfo, kwargs: dict[str, Any], num_classes: int | None, in_chans: int | None) -> None:
    sig = inspect.signature(info.constructor)
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        # (a constructor taking **kwargs passes them on; the network class checks them)
        accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise InvalidArgumentError(
                f"{info.name} got unknown argument(s) {', '.join(unknown)}; "
                f"it accepts {', '.join(accepted)}")
    check_model_args(1000 if num_classes is None else num_classes, 3 if in_chans is None else in_chans)
