"""``create_model`` and ``model_info``: a constructor from the registry, weights from the catalogue."""

from __future__ import annotations

import inspect
import os
from typing import Any

from torch import nn

from .errors import InvalidArgumentError
from .registry import ModelInfo, get_model_entry

__all__ = ["create_model", "model_info", "split_model_name"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def split_model_name(name: str) -> tuple[str, str | None]:
    """``"resnet50.tv2_in1k"`` -> ``("resnet50", "tv2_in1k")``; no tag -> ``(name, None)``."""
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"a model name must be a non-empty string, got {name!r}")
    base, _, tag = name.partition(".")
    return base, (tag or None)


def _default_cfg(info: ModelInfo, num_classes: int, in_chans: int) -> dict[str, Any]:
    return {
        "architecture": info.name,
        "tag": None,
        "num_classes": num_classes,
        "input_size": (in_chans, *info.input_size[1:]),
        "min_input_size": (in_chans, *info.min_input_size[1:]),
        "fixed_input_size": info.fixed_input_size,
        "interpolation": "bilinear",
        "crop_pct": 0.875,
        "mean": IMAGENET_MEAN if in_chans == 3 else (0.5,) * in_chans,
        "std": IMAGENET_STD if in_chans == 3 else (0.5,) * in_chans,
        "first_conv": info.first_conv,
        "classifier": info.classifier,
    }


def create_model(name: str, pretrained: bool | str | os.PathLike[str] = False, *,
                 num_classes: int | None = None, in_chans: int | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model, optionally with pretrained weights.

    ``name`` is a registered name (``"resnet50"``), optionally with a weight tag
    (``"resnet50.tv2_in1k"``). ``pretrained`` is ``False``, ``True`` (the default or the
    named tag), a tag (``"tv_in1k"``), or a path to a ``.pth``/``.safetensors`` weights file
    (torchvision, timm or cnnzoo layout). Without ``num_classes``/``in_chans`` the model is
    built as the weights were; different values replace the classifier or adapt the first
    convolution. Other keyword arguments go to the constructor; unknown ones are
    an :class:`~cnnzoo.errors.InvalidArgumentError`.
    """
    base, tag = split_model_name(name)
    info = get_model_entry(base)
    want_weights = pretrained is not False and pretrained is not None
    if tag is not None and pretrained is False:
        # a tag names weights: asking for "resnet50.tv2_in1k" means those weights
        want_weights = True
        pretrained = True
    weights_entry = None
    if want_weights:
        from . import weights  # imported only when weights are asked for

        weights_entry = weights.resolve(base, tag, pretrained)
        # unless asked otherwise, build the model the weights were made for
        if num_classes is None:
            num_classes = weights_entry.num_classes
        if in_chans is None:
            in_chans = weights_entry.in_chans
    ctor_kwargs = dict(kwargs)
    if num_classes is not None:
        ctor_kwargs["num_classes"] = num_classes
    if in_chans is not None:
        ctor_kwargs["in_chans"] = in_chans
    _check_kwargs(info, ctor_kwargs)
    try:
        model = info.constructor(**ctor_kwargs)
    except TypeError as e:
        # only the argument-binding errors are the user's; any other TypeError is a bug
        if "keyword argument" not in str(e) and "multiple values for argument" not in str(e):
            raise
        raise InvalidArgumentError(f"{info.name}: {e}; see help(cnnzoo.models) for its arguments") from None
    cfg = _default_cfg(info, getattr(model, "num_classes", num_classes or 0),
                       getattr(model, "in_chans", in_chans or 3))
    if weights_entry is not None:
        from . import weights

        cfg.update(weights.load_pretrained(model, info, weights_entry))
    model.pretrained_cfg = cfg  # type: ignore[assignment]
    model.default_cfg = cfg  # type: ignore[assignment]  # timm's older name
    return model


def _check_kwargs(info: ModelInfo, kwargs: dict[str, Any]) -> None:
    sig = inspect.signature(info.constructor)
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = None  # the constructor passes them on; the network class checks them
    else:
        accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if accepted is not None:
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise InvalidArgumentError(
                f"{info.name} got unknown argument(s) {', '.join(unknown)}; "
                f"it accepts {', '.join(accepted)}")
    from .layers import check_model_args

    check_model_args(kwargs.get("num_classes", 1000), kwargs.get("in_chans", 3))


def model_info(name: str) -> dict[str, Any]:
    """Metadata of a model: family, paper, authors, year, input sizes and its weight tags."""
    base, _ = split_model_name(name)
    info = get_model_entry(base)
    record = info.as_dict()
    from . import weights

    tags = weights.list_tags(base)
    record["pretrained_tags"] = tags
    record["has_pretrained"] = bool(tags)
    return record
