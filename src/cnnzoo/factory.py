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
from collections.abc import Mapping
from typing import Annotated, Any, cast

from torch import nn

from .errors import InvalidArgumentError, shown
from .models.arguments import Positive, check_arguments, within
from .models.backbone import Indices
from .models.base import ZooModel
from .models.build import (
    build_model,
    check_constructor_args,
    check_features_args,
    feature_extractor,
    network_accepts,
    probe_model,
    split_model_name,
)
from .models.registry import get_model_entry, set_pretrained_cfg
from .models.registry import pretrained_cfg as pretrained_cfg_of
from .weights.cache import using_cache_dir
from .weights.hfhub import hub_architecture, hub_global_pool
from .weights.load import load_checkpoint, load_pretrained, resolve

__all__ = ["create_model"]


#: timm's ``pretrained_cfg`` keys that choose the weights (timm: file, then the Hub, then the url)
_SOURCE_KEYS = ("file", "hf_hub_id", "url", "state_dict", "tag")
#: timm's ``pretrained_cfg`` keys that describe the model or its input: laid over the model's record
_RECORD_KEYS = frozenset(
    {
        "architecture",
        "hf_hub_filename",
        "source",
        "custom_load",
        "input_size",
        "test_input_size",
        "min_input_size",
        "fixed_input_size",
        "interpolation",
        "crop_pct",
        "test_crop_pct",
        "crop_mode",
        "mean",
        "std",
        "num_classes",
        "label_offset",
        "label_names",
        "label_descriptions",
        "pool_size",
        "test_pool_size",
        "first_conv",
        "classifier",
        "license",
        "description",
        "origin_url",
        "paper_name",
        "paper_ids",
        "notes",
        "resize_size",
        "dataset",
    }
)
#: ``feature_cfg`` keys (timm's); flatten_sequential and no_rewrite shape timm's hook extractors and have
#: nothing to act on in cnnzoo's, as timm ignores them for its list and getter extractors
_FEATURE_CFG_KEYS = frozenset({"out_indices", "feature_cls", "norm", "output_fmt", "flatten_sequential", "no_rewrite"})


def create_model(
    name: str,
    pretrained: bool | str | os.PathLike[str] = False,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    features_only: bool = False,
    out_indices: Indices = None,
    feature_cls: str | None = None,
    feature_cfg: Mapping[str, Any] | None = None,
    pretrained_cfg: str | Mapping[str, Any] | Any | None = None,
    pretrained_cfg_overlay: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    global_pool: str | None = None,
    bn_momentum: float | None = None,
    bn_eps: float | None = None,
    zero_init_last: bool | None = None,
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
    (``{"0": map, ...}``), or with ``"getter"`` a
    :class:`~cnnzoo.models.backbone.FeatureGetterNet` (the network's ``forward_intermediates``).
    ``feature_cfg`` gives the same as a dict (``out_indices``, ``feature_cls``, ``norm``). The
    weights load into the whole network first; then the head goes (and the stages after the
    last one asked for).

    timm's factory arguments, with timm's meanings (None: not given, as timm drops them):

    * ``pretrained_cfg``: a weight tag, or a dict (or timm ``PretrainedCfg``) whose ``file``,
      ``hf_hub_id`` or ``tag`` chooses the weights when ``pretrained`` is true, and whose other
      entries (``mean``, ``std``, ``input_size``, ``crop_pct``, ``label_names`` ...) are laid
      over the model's ``pretrained_cfg``; ``pretrained_cfg_overlay`` is laid over it
      (``pretrained_cfg_overlay=dict(file=PATH)`` loads a local file, as in timm);
    * ``cache_dir``: where downloads go and are looked for, for this call;
    * ``checkpoint_path``: a checkpoint of this very model loaded strictly after the build
      (and the pretrained weights): no key missing, none left over, no shape changed;
    * ``global_pool``: the head's pooling, one of the network's ``global_pools`` (timm's types:
      ``""`` (no pooling: with ``num_classes=0`` the model returns the feature map), ``"avg"``
      (as built), ``"max"``, ``"avgmax"``, ``"catavgmax"``), set before the weights load;
    * ``drop_rate``, ``drop_path_rate``: the network's own arguments;
    * ``bn_momentum``, ``bn_eps``: set on every BatchNorm layer (a network without one refuses them);
    * ``zero_init_last``: timm's name of ``zero_init_residual`` (the last BatchNorm of each
      residual branch starts at zero), for the networks that have it; ``False`` elsewhere is
      what they do.
    """
    feature_cls, out_indices, feature_norm = _feature_args(features_only, feature_cls, out_indices, feature_cfg)
    # by their annotations on _set_norm_args, before anything is built or downloaded
    check_arguments("create_model", _set_norm_args, (), {"bn_momentum": bn_momentum, "bn_eps": bn_eps})
    if isinstance(name, str) and name.startswith(("hf-hub:", "local-dir:")):
        # timm's syntax: the checkpoint's config.json names the architecture
        if pretrained not in (False, True, None):
            raise InvalidArgumentError(f"'{name}' names its weights; pretrained={pretrained!r} names others")
        name, pretrained = hub_architecture(name), name
        if global_pool is None:  # as the folder was written (timm reads its config.json the same way)
            global_pool = hub_global_pool(pretrained)
    base, tag = split_model_name(name)
    info = get_model_entry(base)
    check_features_args(features_only, out_indices, feature_cls)
    source, record = _split_pretrained_cfg(pretrained_cfg, pretrained_cfg_overlay)
    named_tag = tag
    if isinstance(source.get("tag"), str) and source["tag"] != tag:
        if tag is not None:
            raise InvalidArgumentError(f"'{name}' names the tag {tag!r} and pretrained_cfg the tag {source['tag']!r}")
        tag = source["tag"]
    pretrained = _weights_source(pretrained, source, base)
    if named_tag is not None and pretrained is False:
        # a tag in the name asks for its weights ("resnet50.tv2_in1k"); a pretrained_cfg tag only chooses them
        # when pretrained is true, as in timm, whose create_model("x.tag") hands the tag over that way
        pretrained = True
    kwargs = _network_kwargs(info, kwargs, zero_init_last)
    check_constructor_args(info, kwargs, num_classes, in_chans)
    weights = None
    with using_cache_dir(cache_dir):
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
        _set_norm_args(model, info.name, bn_momentum, bn_eps)
        if global_pool is not None:  # before the weights: a classifier it widens ("catavgmax") must not fit silently
            cast(ZooModel, model).set_global_pool(global_pool)
        if weights is not None:
            set_pretrained_cfg(model, pretrained_cfg_of(model, info, {**load_pretrained(model, weights), **record}))
        elif record:
            set_pretrained_cfg(model, pretrained_cfg_of(model, info, record))
        if checkpoint_path is not None:
            load_checkpoint(model, resolve(base, None, checkpoint_path, probe=lambda: probe_model(info, kwargs)))
    return feature_extractor(model, out_indices, feature_cls, feature_norm) if features_only else model


def _timm_dict(what: str, value: Any, keys: frozenset[str], kind: str = "a dict") -> dict[str, Any]:
    """timm's ``feature_cfg``, ``pretrained_cfg`` or its overlay as a dict, refused where it is none or holds a
    key that timm's factory does not read there (a misspelt key would otherwise change nothing)."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{what} must be {kind}, got {type(value).__name__}")
    unknown = [k for k in value if k not in keys]
    if unknown:
        raise InvalidArgumentError(f"{what} got unknown key(s) {shown(unknown)}; it takes {', '.join(sorted(keys))}")
    return dict(value)


def _feature_args(
    features_only: bool, feature_cls: str | None, out_indices: Indices, feature_cfg: Mapping[str, Any] | None
) -> tuple[str, Indices, bool]:
    """(feature_cls, out_indices, norm) from the arguments and timm's ``feature_cfg`` (arguments win)."""
    cfg = _timm_dict("feature_cfg", {} if feature_cfg is None else feature_cfg, _FEATURE_CFG_KEYS)
    if cfg and not features_only:
        raise InvalidArgumentError("feature_cfg configures a feature extractor: pass features_only=True with it")
    if cfg.get("output_fmt", "NCHW") != "NCHW":
        raise InvalidArgumentError(f"cnnzoo's networks give NCHW feature maps; output_fmt={cfg['output_fmt']!r}")
    cls = feature_cls if feature_cls is not None else cfg.get("feature_cls", "list")
    indices = out_indices if out_indices is not None else cfg.get("out_indices")
    if isinstance(cls, str):
        cls = cls.lower()
    return cls, indices, bool(cfg.get("norm", False))


def _split_pretrained_cfg(cfg: Any, overlay: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """timm's ``pretrained_cfg`` (+ overlay) as (what chooses the weights, what is recorded)."""
    if isinstance(cfg, str):
        cfg = {"tag": cfg}
    elif callable(getattr(cfg, "to_dict", None)) and not isinstance(cfg, Mapping):  # timm's PretrainedCfg dataclass
        cfg = {k: v for k, v in cfg.to_dict().items() if v is not None}
    keys = _RECORD_KEYS | set(_SOURCE_KEYS)
    merged = {
        **_timm_dict("pretrained_cfg", {} if cfg is None else cfg, keys, "a weight tag or a dict"),
        **_timm_dict("pretrained_cfg_overlay", {} if overlay is None else overlay, keys),
    }
    source = {k: merged[k] for k in _SOURCE_KEYS if merged.get(k) is not None}
    record = {k: v for k, v in merged.items() if k in _RECORD_KEYS and v is not None}
    if record.get("num_classes") == -1:
        # timm's train.py sets -1 so that the weights' classifier is never taken for the data's;
        # cnnzoo reads the classes from the file and replaces the classifier when they differ
        del record["num_classes"]
    return source, record


def _weights_source(pretrained: Any, source: dict[str, Any], base: str) -> Any:
    """``pretrained`` with a ``pretrained_cfg``'s file or Hub id, which apply when it is true (timm's order)."""
    if pretrained is not True:
        return pretrained
    if "file" in source:
        return source["file"]
    if "hf_hub_id" in source:
        return f"hf-hub:{source['hf_hub_id']}"
    if "url" in source or "state_dict" in source:
        raise InvalidArgumentError(
            f"cnnzoo loads catalogued weights of {base} (a tag), a Hub id or a file; download the url "
            "and pass pretrained_cfg_overlay=dict(file=PATH)"
        )
    return pretrained


def _network_kwargs(info: Any, kwargs: dict[str, Any], zero_init_last: bool | None) -> dict[str, Any]:
    """The constructor arguments with timm's ``zero_init_last`` read into cnnzoo's."""
    if zero_init_last is None:
        return kwargs
    if "zero_init_residual" in kwargs:
        raise InvalidArgumentError("zero_init_last is timm's name of zero_init_residual: give one")
    if network_accepts(info, "zero_init_residual"):
        return {**kwargs, "zero_init_residual": zero_init_last}  # whose annotation the network checks
    if zero_init_last:
        raise InvalidArgumentError(f"{info.name} has no residual branches: zero_init_last=True has nothing to zero")
    return kwargs


#: BatchNorm's momentum, the weight of each new batch in the running statistics
Momentum = Annotated[float, within(0.0, 1.0, low_open=True)]


def _set_norm_args(model: nn.Module, name: str, bn_momentum: Momentum | None, bn_eps: Positive | None) -> None:
    """timm's ``bn_momentum``/``bn_eps`` (checked by their annotations when create_model starts): set on every
    BatchNorm layer of ``model``."""
    if bn_momentum is None and bn_eps is None:
        return
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise InvalidArgumentError(f"{name} has no BatchNorm layer for bn_momentum/bn_eps")
    for m in norms:
        if bn_momentum is not None:
            m.momentum = float(bn_momentum)
        if bn_eps is not None:
            m.eps = float(bn_eps)
