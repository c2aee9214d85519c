"""MobileNet v1 (depthwise separable convolutions) and v2 (inverted residuals).

Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", 2017 (https://arxiv.org/abs/1704.04861), Table 1; Sandler et al.,
"MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
(https://arxiv.org/abs/1801.04381), Table 2. v2's module names are torchvision's (its
weights load by identity); v1 has no torchvision model, so it uses the same ``features`` /
``classifier`` layout with timm's block-internal names (``conv_dw``, ``bn1``, ``conv_pw``,
``bn2``), and timm's ``mobilenetv1_100`` weights load through the ``timm_mobilenetv1``
key map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
from torch import nn

from ..errors import InvalidArgumentError, shown
from .arguments import Count, fits, within
from .base import ZooModel
from .layers import (
    NormLayer,
    he_normal,
    init_weights,
    make_divisible,
    make_norm,
    normal_init,
    smallest_input_size,
    stack_feature_info,
)
from .registry import register_model

__all__ = [
    "ConvBNActivation",
    "DepthwiseSeparableConv",
    "MobileNetV1",
    "InvertedResidual",
    "MobileNetV2",
    "MOBILENET_V1_STAGES",
    "MOBILENET_V2_STAGES",
    "mobilenet_v1",
    "mobilenet_v1_075",
    "mobilenet_v1_050",
    "mobilenet_v1_025",
    "mobilenet_v2",
]

#: Howard et al. 2017, Table 1, after the 32-map 3x3/2 stem: (output channels c, blocks n,
#: stride s of the first block). Table 1 lists the 13th depthwise layer as "/s2", a known
#: typo: with it the final map would be 4x4, not the 7x7 the table's pool expects, and the
#: reference TensorFlow code (and timm) use stride 1 there.
MOBILENET_V1_STAGES: tuple[tuple[int, int, int], ...] = (
    (64, 1, 1),
    (128, 2, 2),
    (256, 2, 2),
    (512, 6, 2),
    (1024, 2, 2),
)

#: Sandler et al. 2018, Table 2, after the 32-map 3x3/2 stem: (expansion t, channels c,
#: blocks n, stride s of the first block); a 1x1 convolution to 1280 maps follows.
MOBILENET_V2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

#: the activations named by a string (the reference TensorFlow code's and the paper's); an nn.Module class serves too
Activation = Literal["relu6", "relu"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu6": nn.ReLU6, "relu": nn.ReLU}


#: one row of Sandler et al. 2018, Table 2: expansion t, channels c, blocks n, first stride s
_Row = tuple[int, int, int, Literal[1, 2]]


def _check_setting(name: str, setting: Any) -> None:
    # torchvision checks the first row only; a bad later row would fail deep inside the build
    if not (fits(setting, Sequence[_Row]) and setting and min(min(row) for row in setting) >= 1):
        raise InvalidArgumentError(
            f"{name} must be a non-empty list of [t, c, n, s] rows (expansion, channels, "
            f"blocks, first stride 1 or 2; Sandler et al. 2018, Table 2), e.g. [[1, 16, 1, 1], [6, 24, 2, 2]]; "
            f"got {shown(setting)}"
        )


#: the width multiplier (alpha) and the stage table, checked when a network is built; above a width
#: multiplier of 8 every layer would be 8 times the paper's width: 64 times its parameters
WidthMult = Annotated[float, within(0.0, 8.0, low_open=True)]
Setting = Annotated[Sequence[Sequence[int]], _check_setting]


class ConvBNActivation(nn.Sequential):
    """Conv, BN (or ``norm_layer``), activation as one Sequential (children 0/1/2), torchvision's layout."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act_layer: type[nn.Module] = nn.ReLU6,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__(
            nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding=(kernel_size - 1) // 2, groups=groups, bias=False),
            make_norm(norm_layer, out_chs),
            act_layer(inplace=True),
        )


class DepthwiseSeparableConv(nn.Module):
    """3x3 depthwise conv, BN, act, 1x1 pointwise conv, BN, act (no shortcut).

    Howard et al. 2017, Sec. 3.1 and Fig. 3: a standard convolution factored into one
    filter per input channel (spatial) and a 1x1 convolution (cross-channel), about
    8-9 times cheaper for 3x3 kernels (Eq. 5). The stride sits on the depthwise conv.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, act_layer: type[nn.Module] = nn.ReLU6) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(in_chs, in_chs, 3, stride, padding=1, groups=in_chs, bias=False)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.act1 = act_layer(inplace=True)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.act2 = act_layer(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))
        return self.act2(self.bn2(self.conv_pw(x)))


# He-normal over each filter's true fan-out (per group: see he_normal), unit BN and a small FC
# (N(0, 0.01), zero bias), as torchvision
_CONV_INIT, _FC_INIT = he_normal("fan_out", per_group=True), normal_init(0.01)


class MobileNetV1(ZooModel):
    """MobileNet v1: a 3x3/2 conv, 13 depthwise separable blocks, average pool, FC.

    Howard et al. 2017, Table 1. ``width_mult`` is the width multiplier alpha (Sec. 3.3):
    every layer's channels times alpha, rounded to a multiple of 8 with
    :func:`~cnnzoo.models.layers.make_divisible` as timm does (exact for the paper's 0.75, 0.5,
    0.25). The resolution multiplier rho is just a smaller input. ``act_layer`` is
    ``"relu6"`` (the reference TensorFlow code and timm's weights), ``"relu"`` (the paper's
    Fig. 3) or an ``nn.Module`` class taking ``inplace``. The stages are
    :data:`MOBILENET_V1_STAGES`.
    """

    def __init__(
        self,
        *,
        width_mult: WidthMult = 1.0,
        act_layer: Activation | type[nn.Module] = "relu6",
        drop_rate: float = 0.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        arch_name: str = "MobileNetV1",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        act = _ACTIVATIONS[act_layer] if isinstance(act_layer, str) else act_layer
        self.width_mult = width_mult

        channels = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [ConvBNActivation(in_chans, channels, stride=2, act_layer=act)]
        widths = [channels]
        for c, n, s in MOBILENET_V1_STAGES:
            out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(DepthwiseSeparableConv(channels, out, s if i == 0 else 1, act_layer=act))
                channels = out
                widths.append(out)
        self.features = nn.Sequential(*layers)
        # stage outputs: the last block at strides 2 to 32 (timm's mobilenetv1 taps)
        self.set_feature_info(stack_feature_info(self.features, widths))
        # every convolution is padded, so any input of at least 1x1 runs (torchvision's
        # min_size for MobileNet v2 is (1, 1))
        self.min_input_size = (in_chans, *smallest_input_size(self.features.modules()))
        self.num_features = channels  # N x 1024*alpha x H/32 x W/32 (7x7 at 224)
        init_weights(self, _CONV_INIT, _FC_INIT)
        self.classifier = self.new_classifier("classifier", channels)

    def init_classifier(self, layer: nn.Linear) -> None:
        init_weights(layer, linear=_FC_INIT)


class InvertedResidual(nn.Module):
    """1x1 expand (t), BN, ReLU6, 3x3 depthwise, BN, ReLU6, 1x1 project, BN (linear).

    Sandler et al. 2018, Sec. 3.3 and Table 1: the shortcut joins the thin bottlenecks
    (the inverse of a ResNet bottleneck), and the projection has no activation because a
    ReLU in a low-dimensional space destroys information (Sec. 3.2, "linear
    bottlenecks"). The shortcut exists only for stride 1 and equal widths; with t = 1 the
    expansion convolution is left out (torchvision's layout, ``conv.0`` is then the
    depthwise conv).
    """

    def __init__(
        self, inp: int, oup: int, stride: int, expand_ratio: int, norm_layer: NormLayer = nn.BatchNorm2d
    ) -> None:
        super().__init__()
        self.stride = stride
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNActivation(inp, hidden, kernel_size=1, norm_layer=norm_layer))
        layers += [
            ConvBNActivation(hidden, hidden, stride=stride, groups=hidden, norm_layer=norm_layer),
            nn.Conv2d(hidden, oup, 1, bias=False),
            make_norm(norm_layer, oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # use_res_connect is fixed at construction: a constant branch, not a data-dependent one
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(ZooModel):
    """MobileNet v2: a 3x3/2 conv, 17 inverted residual blocks, 1x1 conv to 1280, pool, FC.

    Sandler et al. 2018, Table 2. ``inverted_residual_setting`` is the table as data, one
    ``[t, c, n, s]`` row per stage (expansion, channels, blocks, first stride; None:
    :data:`MOBILENET_V2_STAGES`), torchvision's argument. ``width_mult`` scales every layer
    (rounded to multiples of ``round_nearest``; 1 turns the rounding off) but the last conv is
    never made narrower than 1280 (Sec. 6.1, "we do not apply the width multiplier to the last
    convolutional layer" for multipliers below one). ``norm_layer`` (torchvision's) builds each
    normalisation layer from its channel count (None: ``nn.BatchNorm2d``, Sec. 4). The
    classifier is dropout (``drop_rate``, 0.2 as torchvision) then a Linear, torchvision's
    ``classifier.0/1``.
    """

    def __init__(
        self,
        *,
        width_mult: WidthMult = 1.0,
        round_nearest: Count = 8,
        inverted_residual_setting: Setting | None = None,
        norm_layer: NormLayer | None = None,
        drop_rate: float = 0.2,
        num_classes: int = 1000,
        in_chans: int = 3,
        arch_name: str = "MobileNetV2",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        stages = MOBILENET_V2_STAGES if inverted_residual_setting is None else inverted_residual_setting
        norm = nn.BatchNorm2d if norm_layer is None else norm_layer
        self.width_mult = width_mult

        channels = make_divisible(32 * width_mult, round_nearest)
        last = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        layers: list[nn.Module] = [ConvBNActivation(in_chans, channels, stride=2, norm_layer=norm)]
        widths = [channels]
        for t, c, n, s in stages:
            out = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, expand_ratio=t, norm_layer=norm))
                channels = out
                widths.append(out)
        layers.append(ConvBNActivation(channels, last, kernel_size=1, norm_layer=norm))
        self.features = nn.Sequential(*layers)
        # stage outputs: the last block at strides 2, 4, 8 and 16 (16, 24, 32 and 96 maps), then
        # the 1x1 convolution to 1280 (timm's taps end at the 320-map block 17 instead, since
        # its models keep that convolution in the head; ours is in forward_features)
        self.set_feature_info(stack_feature_info(self.features, [*widths, last]))
        # every convolution is padded, so any input of at least 1x1 runs (torchvision's
        # min_size for MobileNet v2 is (1, 1))
        self.min_input_size = (in_chans, *smallest_input_size(self.features.modules()))
        self.num_features = last  # N x 1280 x H/32 x W/32 (7x7 at 224)
        init_weights(self, _CONV_INIT, _FC_INIT)
        self.classifier = nn.Sequential(nn.Dropout(p=drop_rate))
        self.classifier.append(self.new_classifier("classifier.1", last))

    def init_classifier(self, layer: nn.Linear) -> None:
        init_weights(layer, linear=_FC_INIT)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool (average: Table 2, "avgpool 7x7"), dropout, then the Linear ("conv2d 1x1")."""
        x = self.forward_pool(x)
        if self.global_pool == "":
            return x
        x = self.classifier[0](x)
        return x if pre_logits else self.classifier[1](x)


_V1: dict[str, Any] = dict(
    family="mobilenet",
    paper="MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    authors="A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, M. Andreetto, H. Adam",
    year=2017,
    url="https://arxiv.org/abs/1704.04861",
    input_size=(3, 224, 224),
    num_classes=1000,
)
_V2: dict[str, Any] = dict(
    family="mobilenet",
    paper="MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    authors="M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen",
    year=2018,
    url="https://arxiv.org/abs/1801.04381",
    input_size=(3, 224, 224),
    num_classes=1000,
)


@register_model(**_V1)
def mobilenet_v1(**kwargs: Any) -> MobileNetV1:
    """MobileNet v1 (alpha = ``width_mult``, 1.0 by default); Howard et al. 2017, Table 1."""
    return MobileNetV1(arch_name="mobilenet_v1", **kwargs)


@register_model(**_V1)
def mobilenet_v1_075(**kwargs: Any) -> MobileNetV1:
    """0.75 MobileNet-224 (2,585,560 parameters; Table 6: 2.6M); Howard et al. 2017."""
    return MobileNetV1(width_mult=0.75, arch_name="mobilenet_v1_075", **kwargs)


@register_model(**_V1)
def mobilenet_v1_050(**kwargs: Any) -> MobileNetV1:
    """0.5 MobileNet-224 (1,331,592 parameters; Table 6: 1.3M); Howard et al. 2017."""
    return MobileNetV1(width_mult=0.5, arch_name="mobilenet_v1_050", **kwargs)


@register_model(**_V1)
def mobilenet_v1_025(**kwargs: Any) -> MobileNetV1:
    """0.25 MobileNet-224 (470,072 parameters; Table 6: 0.5M); Howard et al. 2017."""
    return MobileNetV1(width_mult=0.25, arch_name="mobilenet_v1_025", **kwargs)


@register_model(**_V2)
def mobilenet_v2(**kwargs: Any) -> MobileNetV2:
    """MobileNet v2 (``width_mult`` 1.0 by default); Sandler et al. 2018, Table 2."""
    return MobileNetV2(arch_name="mobilenet_v2", **kwargs)
