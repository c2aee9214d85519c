"""Key maps: published state-dict layouts -> cnnzoo module names.

Where torchvision has a model, our module names are torchvision's and no map is needed.
The maps here cover layouts that differ (timm's legacy SENets, timm's ResNet v2 and
MobileNet v1, torchvision's pre-0.3 DenseNet files). Each map is a pure function from a
state dict to a state dict, registered under a source-layout name with ``@key_map``;
:mod:`cnnzoo.weights.load` picks one by the catalogue entry's ``layout`` or by detecting the keys.
They live apart from the loading code so that each map reads alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

__all__ = ["KEY_MAPS", "key_map"]

StateDict = dict[str, torch.Tensor]
KEY_MAPS: dict[str, Callable[[StateDict], StateDict]] = {}


def key_map(layout: str) -> Callable[[Callable[[StateDict], StateDict]], Callable[[StateDict], StateDict]]:
    """Register ``fn`` as the map from source layout ``layout`` to cnnzoo names."""

    def decorate(fn: Callable[[StateDict], StateDict]) -> Callable[[StateDict], StateDict]:
        if layout in KEY_MAPS:
            raise ValueError(f"key map '{layout}' is defined twice")
        KEY_MAPS[layout] = fn
        return fn

    return decorate


# --- DenseNet and MobileNet v1 layouts ------------------------------------------------------

_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\."
    r"(weight|bias|running_mean|running_var|num_batches_tracked)$"
)


@key_map("torchvision_densenet_legacy")
def torchvision_densenet_legacy(state_dict: StateDict) -> StateDict:
    """torchvision's pre-0.3 DenseNet files (``denselayer1.norm.1.weight``) -> ``norm1``.

    The published densenet121/161/169/201 ``.pth`` files keep these keys, from before
    PyTorch forbade '.' in module names; torchvision's own ``_load_state_dict`` applies
    the same rewrite. Keys already in the new form pass through unchanged.
    """
    return {_DENSENET_LEGACY.sub(r"\1\2.\3", k): v for k, v in state_dict.items()}


_TIMM_MBV1_BLOCK = re.compile(r"^blocks\.(\d+)\.(\d+)\.(.*)$")


@key_map("timm_mobilenetv1")
def timm_mobilenetv1(state_dict: StateDict) -> StateDict:
    """timm's ``mobilenetv1_*`` (EfficientNet builder) layout -> cnnzoo's ``MobileNetV1``.

    ``conv_stem``/``bn1`` become the stem ``features.0.0``/``features.0.1``; the
    per-stage blocks ``blocks.<stage>.<i>`` are numbered on as ``features.1`` ...
    ``features.13`` (the block internals ``conv_dw``/``bn1``/``conv_pw``/``bn2`` are
    the same names); ``classifier`` is unchanged. Keys of other timm variants (the
    ``conv_head`` of ``mobilenetv1_100h``) pass through, so a strict load reports them.
    """
    blocks = sorted({(int(m[1]), int(m[2])) for k in state_dict if (m := _TIMM_MBV1_BLOCK.match(k))})
    index = {pos: i + 1 for i, pos in enumerate(blocks)}  # features.0 is the stem
    out: StateDict = {}
    for k, v in state_dict.items():
        if m := _TIMM_MBV1_BLOCK.match(k):
            k = f"features.{index[int(m[1]), int(m[2])]}.{m[3]}"
        elif k.startswith("conv_stem."):
            k = "features.0.0." + k[len("conv_stem.") :]
        elif k.startswith("bn1."):
            k = "features.0.1." + k[len("bn1.") :]
        out[k] = v
    return out


# --- residual family layouts: timm's legacy SENets and ResNet v2 ---------------------------

# layer0 of the Caffe SENets -> our stem: the 7x7 one is conv1/bn1 as in torchvision; the
# deep one (SENet-154's three 3x3 convs) is the Sequential conv1 (convs at 0, 3, 6) + bn1
_SENET_STEM = {"conv1": "conv1", "bn1": "bn1"}
_SENET_DEEP_STEM = {
    "conv1": "conv1.0",
    "bn1": "conv1.1",
    "conv2": "conv1.3",
    "bn2": "conv1.4",
    "conv3": "conv1.6",
    "bn3": "bn1",
}
_SENET_LAYER0 = re.compile(r"^layer0\.(conv[123]|bn[123])\.(.*)$")
_SENET_SE = re.compile(r"^(layer[1-4]\.\d+)\.se_module\.(.*)$")


@key_map("timm_legacy_senet")
def timm_legacy_senet(state_dict: StateDict) -> StateDict:
    """timm's ``legacy_seresnet*``/``legacy_seresnext*``/``legacy_senet154`` -> cnnzoo's ``ResNet``.

    The layout of Cadene's ``pretrainedmodels`` SENets: the stem ``layer0.*`` becomes
    ``conv1``/``bn1`` (or ``conv1.{0,1,3,4,6}``/``bn1`` where ``layer0.conv3`` shows the
    deep stem), ``se_module`` becomes ``se``, ``last_linear`` becomes ``fc``; the blocks'
    ``conv1..3``/``bn1..3``/``downsample.0/1`` are already torchvision's names. Other keys
    pass through, so a strict load reports them.
    """
    stem = _SENET_DEEP_STEM if "layer0.conv3.weight" in state_dict else _SENET_STEM
    out: StateDict = {}
    for k, v in state_dict.items():
        if m := _SENET_LAYER0.match(k):
            k = f"{stem.get(m[1], 'layer0.' + m[1])}.{m[2]}"
        elif m := _SENET_SE.match(k):
            k = f"{m[1]}.se.{m[2]}"
        elif k.startswith("last_linear."):
            k = "fc." + k[len("last_linear.") :]
        out[k] = v
    return out


_RESNETV2_BLOCK = re.compile(r"^stages\.(\d)\.blocks\.(\d+)\.(?:(norm|conv)([123])|(downsample\.conv))\.(.*)$")


@key_map("timm_resnetv2")
def timm_resnetv2(state_dict: StateDict) -> StateDict:
    """timm's ``resnetv2_18/34/50/101/152`` (BatchNorm, pre-activation) -> cnnzoo's v2 ``ResNet``.

    ``stem.conv`` -> ``conv1``; ``stages.i.blocks.j.{norm,conv}k`` -> ``layer{i+1}.j.{bn,conv}k``;
    the projection ``downsample.conv`` -> ``downsample.0``; the final ``norm`` -> ``final_bn``;
    timm's 1x1-conv classifier ``head.fc`` (C_out x C_in x 1 x 1) -> the linear ``fc``.
    Other keys (the deep stems of ``resnetv2_50d``, BiT's GroupNorm models) pass through, so
    a strict load reports them.
    """
    out: StateDict = {}
    for k, v in state_dict.items():
        if m := _RESNETV2_BLOCK.match(k):
            stage, block, kind, idx, down, rest = m.groups()
            name = "downsample.0" if down else f"{'bn' if kind == 'norm' else 'conv'}{idx}"
            k = f"layer{int(stage) + 1}.{block}.{name}.{rest}"
        elif k.startswith("stem.conv."):
            k = "conv1." + k[len("stem.conv.") :]
        elif k.startswith("norm."):
            k = "final_bn." + k[len("norm.") :]
        elif k.startswith("head.fc."):
            k = "fc." + k[len("head.fc.") :]
            if v.ndim == 4:
                v = v.flatten(1)  # a 1x1 conv on the pooled map is a linear layer
        out[k] = v
    return out
