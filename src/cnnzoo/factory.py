"""``create_model``: where the networks and their weights meet.

The layers below point one way: :mod:`cnnzoo.models` builds networks and knows nothing of
weights; :mod:`cnnzoo.weights` finds, verifies and loads weight files into networks it
reads through the model contract. This module joins them in timm's order (``create_model``
-> ``build_model_with_cfg``): the weights a call names are resolved before anything is
built (which file, its classes and input channels, the constructor arguments it was trained
with, its keys in cnnzoo's names), the network is built for them, the weights are loaded, and
the ``pretrained_cfg`` is set once, from the network, its registration and what the weights say.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from .errors import InvalidArgumentError
from .models.backbone import Indices
from .models.build import (
    build_model,
    check_constructor_args,
    check_features_args,
    feature_extractor,
    probe_model,
    split_model_name,
)
from .models.registry import get_model_entry, pretrained_cfg, set_pretrained_cfg
from .weights.hfhub import hub_architecture
from .weights.load import load_pretrained, resolve

__all__ = ["create_model"]


def create_model(
    name: str,
    pretrained: bool | str | os.PathLike[str] = False,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: Indices = None,
    feature_cls: str = "list",
    **kwargs: Any,
) -> nn.Module:
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
        if pretrained not in (False, True, None):
            raise InvalidArgumentError(f"'{name}' names its weights; pretrained={pretrained!r} names others")
        name, pretrained = hub_architecture(name), name
    base, tag = split_model_name(name)
    info = get_model_entry(base)
    check_features_args(features_only, out_indices, feature_cls)
    if tag is not None and pretrained is False:
        pretrained = True  # a tag names weights: "resnet50.tv2_in1k" asks for those weights
    check_constructor_args(info, kwargs, num_classes, in_chans)
    weights = None
    if pretrained is not False and pretrained is not None:
        weights = resolve(base, tag, pretrained, probe=lambda: probe_model(info, kwargs))
        # unless asked otherwise, build the model the weights were made for
        if num_classes is None:
            num_classes = weights.num_classes
        if in_chans is None:
            in_chans = weights.in_chans
        # and with the arguments it was trained with, unless the call gives them
        kwargs = {**weights.model_kwargs(in_chans), **kwargs}
    model = build_model(info, kwargs, num_classes, in_chans)
    if weights is not None:
        set_pretrained_cfg(model, pretrained_cfg(model, info, load_pretrained(model, weights)))
    return feature_extractor(model, out_indices, feature_cls) if features_only else model
