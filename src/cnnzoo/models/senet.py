"""Squeeze-and-excitation networks (Hu, Shen, Sun 2018): ResNet/ResNeXt with SE plugged in.

There is no SENet class: each constructor builds :class:`cnnzoo.models.resnet.ResNet` with
``attn_layer=SqueezeExcitation`` (reduction 16, Hu et al. 2018, Sec. 6.1) and the options
that reproduce the Caffe release as ported by Cadene's ``pretrainedmodels`` and kept by
timm as ``legacy_seresnet*``/``legacy_seresnext*``/``legacy_senet154``: the same structure
and parameter counts, and their state dicts load through the ``timm_legacy_senet`` key map.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .layers import SqueezeExcitation
from .registry import register_model
from .resnet import BasicBlock, Bottleneck, ResNet, build_resnet

__all__ = [
    "se_resnet18",
    "se_resnet34",
    "se_resnet50",
    "se_resnet101",
    "se_resnet152",
    "se_resnext50_32x4d",
    "se_resnext101_32x4d",
    "senet154",
]

_SE = partial(SqueezeExcitation, reduction=16)

# Common to every network of the release: SE with r = 16 on each residual branch, and the
# stem max pool of the Caffe models, ceil_mode=True without padding (timm legacy_senet:
# "to preserve compatibility with Caffe weights `ceil_mode=True` is used").
_RELEASE: dict[str, Any] = {"attn_layer": _SE, "stem_pool_ceil": True}
# SE-ResNet-50/101/152 put the stride on the first 1x1, as the original ResNet and its Caffe
# models (He et al. 2015, Sec. 4.1); Cadene's SEResNetBottleneck keeps that.
_SE_RESNET: dict[str, Any] = dict(_RELEASE, stride_in_1x1=True)
# timm trained SE-ResNet-18/34 itself (its SEResNetBlock), with a ReLU before the SE.
_SE_RESNET_BASIC: dict[str, Any] = dict(_RELEASE, act_before_attn=True)
# SE-ResNeXt keeps ResNeXt's stride on the grouped 3x3 (Cadene's SEResNeXtBottleneck).
_SE_RESNEXT: dict[str, Any] = dict(_RELEASE, groups=32, width_per_group=4)
# SENet-154, Hu et al. 2018, Appendix "Details of SENet-154": ResNeXt-152 64x4d with the first
# 1x1 of each block halved, three 3x3 convs in place of the 7x7 (128 channels out), 3x3 stride-2
# projection shortcuts, and dropout 0.2 before the classifier.
_SENET154: dict[str, Any] = dict(
    _RELEASE, groups=64, width_per_group=4, reduce_first=2, stem_type="deep", stem_width=128, down_kernel_size=3
)

_META: dict[str, Any] = dict(
    family="senet",
    paper="Squeeze-and-Excitation Networks",
    authors="J. Hu, L. Shen, G. Sun",
    year=2018,
    url="https://arxiv.org/abs/1709.01507",
    input_size=(3, 224, 224),
    num_classes=1000,
)
_NOTE = "timm legacy_{} layout (key map 'timm_legacy_senet')"


@register_model(**_META, notes=_NOTE.format("seresnet18") + "; ReLU before SE as timm's SEResNetBlock")
def se_resnet18(**kwargs: Any) -> ResNet:
    """SE-ResNet-18: basic blocks (2, 2, 2, 2) with SE; timm's ``legacy_seresnet18``."""
    return build_resnet("se_resnet18", BasicBlock, (2, 2, 2, 2), _SE_RESNET_BASIC, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnet34") + "; ReLU before SE as timm's SEResNetBlock")
def se_resnet34(**kwargs: Any) -> ResNet:
    """SE-ResNet-34: basic blocks (3, 4, 6, 3) with SE; timm's ``legacy_seresnet34``."""
    return build_resnet("se_resnet34", BasicBlock, (3, 4, 6, 3), _SE_RESNET_BASIC, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnet50") + "; stride on the first 1x1")
def se_resnet50(**kwargs: Any) -> ResNet:
    """SE-ResNet-50: bottlenecks (3, 4, 6, 3) with SE; Hu et al. 2018, Table 1."""
    return build_resnet("se_resnet50", Bottleneck, (3, 4, 6, 3), _SE_RESNET, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnet101") + "; stride on the first 1x1")
def se_resnet101(**kwargs: Any) -> ResNet:
    """SE-ResNet-101: bottlenecks (3, 4, 23, 3) with SE; Hu et al. 2018, Table 2."""
    return build_resnet("se_resnet101", Bottleneck, (3, 4, 23, 3), _SE_RESNET, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnet152") + "; stride on the first 1x1")
def se_resnet152(**kwargs: Any) -> ResNet:
    """SE-ResNet-152: bottlenecks (3, 8, 36, 3) with SE; Hu et al. 2018, Table 2."""
    return build_resnet("se_resnet152", Bottleneck, (3, 8, 36, 3), _SE_RESNET, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnext50_32x4d"))
def se_resnext50_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-50 (32x4d): ResNeXt-50 with SE; Hu et al. 2018, Table 1."""
    return build_resnet("se_resnext50_32x4d", Bottleneck, (3, 4, 6, 3), _SE_RESNEXT, kwargs)


@register_model(**_META, notes=_NOTE.format("seresnext101_32x4d"))
def se_resnext101_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-101 (32x4d): ResNeXt-101 with SE; Hu et al. 2018, Table 2."""
    return build_resnet("se_resnext101_32x4d", Bottleneck, (3, 4, 23, 3), _SE_RESNEXT, kwargs)


@register_model(**_META, notes=_NOTE.format("senet154"))
def senet154(**kwargs: Any) -> ResNet:
    """SENet-154: SE-ResNeXt-152 (64x4d) with a deep stem; Hu et al. 2018, Appendix.

    ``drop_rate`` (the dropout before the classifier) is 0.2 by default, as in the release.
    """
    return build_resnet("senet154", Bottleneck, (3, 8, 36, 3), _SENET154, {"drop_rate": 0.2, **kwargs})
