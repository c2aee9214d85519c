"""The residual family: ResNet v1 (He et al. 2015), ResNet v2 (He et al. 2016), ResNeXt, Wide ResNet.

One network class, :class:`ResNet`, is built from a block type and the block counts of its
stages (He et al. 2015, Table 1). The variants plug into it: pre-activation blocks give v2,
``groups``/``width_per_group`` give ResNeXt and Wide ResNet, an ``attn_layer``
(squeeze-and-excitation) gives the SE networks of :mod:`cnnzoo.models.senet`, and the CIFAR
stem, three stages and the paper's shortcut options give the CIFAR networks of Sec. 4.2
(:mod:`cnnzoo.models.resnet_cifar`). ``replace_stride_with_dilation`` (torchvision's
argument) or ``output_stride`` (timm's) turn the strides of the last stages into dilation,
for dense prediction. Module names are torchvision's (``conv1``, ``bn1``,
``layer1``..``layer4``, ``fc``), so torchvision's state dicts load by identity; timm's
layouts go through ``cnnzoo.weights.keymaps``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError
from .arguments import Count, Rate
from .base import ZooModel
from .layers import DropPath, NormLayer, he_normal, init_weights, make_norm, smallest_input_size
from .registry import register_model

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "PreActBasicBlock",
    "PreActBottleneck",
    "ZeroPadShortcut",
    "ResNet",
    "build_resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet18v2",
    "resnet34v2",
    "resnet50v2",
    "resnet101v2",
    "resnet152v2",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

#: builds the attention module of a block from its channel count (e.g. ``SqueezeExcitation``)
AttnLayer = Callable[[int], nn.Module]


def _drop_path(rate: float) -> nn.Module:
    # a rate of 0 is the identity; nn.Identity keeps the module tree of the plain network
    return DropPath(rate) if rate > 0.0 else nn.Identity()


def _attn(attn_layer: AttnLayer | None, channels: int) -> nn.Module:
    return attn_layer(channels) if attn_layer is not None else nn.Identity()


def _conv3x3(inplanes: int, planes: int, stride: int = 1, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    # padding = dilation keeps the map size of a stride-1 3x3 whatever its dilation
    return nn.Conv2d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, groups=groups, bias=False)


# --------------------------------------------------------------------------- blocks
# Every block takes ``dilation`` and ``first_dilation``: in a stage whose stride became
# dilation, the 3x3 that would have carried the stride keeps the previous stage's dilation
# (``first_dilation``) and the others take the new one (torchvision's _make_layer; for the
# basic block, which torchvision refuses to dilate, timm's rule). ``residual=False`` leaves
# the shortcut out: the paper's "plain" networks (He et al. 2015, Sec. 4.1-4.2).


class BasicBlock(nn.Module):
    """3x3 conv, BN, ReLU, 3x3 conv, BN, (+ attention), add the shortcut, ReLU.

    The two-layer residual block of ResNet-18/34 (He et al. 2015, Sec. 3.3 and Fig. 5 left).
    ``act_before_attn`` adds a ReLU between the last BN and the attention module: the layout
    of timm's legacy ``SEResNetBlock`` (``legacy_seresnet18/34``), whose weights expect it;
    the SE paper itself puts SE right after the last BN (Hu et al. 2018, Fig. 3).
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer | None = None,
        drop_path_rate: float = 0.0,
        act_before_attn: bool = False,
        dilation: int = 1,
        first_dilation: int | None = None,
        residual: bool = True,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride, first_dilation or dilation)
        self.bn1 = make_norm(norm_layer, planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.bn2 = make_norm(norm_layer, planes)
        self.act_before_attn = act_before_attn
        self.se = _attn(attn_layer, planes)
        self.drop_path = _drop_path(drop_path_rate)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def zero_init_last(self) -> None:
        # the block starts as the identity (Goyal et al. 2017, Sec. 5.1), as torchvision does; a
        # norm_layer without an affine weight (nn.Identity) leaves nothing to zero, as in torchvision
        weight = getattr(self.bn2, "weight", None)
        if isinstance(weight, torch.Tensor):
            nn.init.zeros_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.act_before_attn:  # fixed at construction: a constant to the compilers
            out = self.relu(out)
        out = self.drop_path(self.se(out))
        if self.residual:
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity  # in place, as torchvision: one tensor fewer per block
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 conv, BN, ReLU, 3x3 conv, BN, ReLU, 1x1 conv, BN, (+ attention), add, ReLU.

    The three-layer block of ResNet-50/101/152 (He et al. 2015, Fig. 5 right) with
    ``expansion`` 4. ``groups`` and ``base_width`` make the 3x3 a grouped convolution of
    ``groups * planes * base_width / 64`` channels: ResNeXt's cardinality (Xie et al. 2017,
    Fig. 3c) and Wide ResNet's widening (Zagoruyko & Komodakis 2016), torchvision's formula.
    The stride sits on the 3x3 ("v1.5", torchvision); ``stride_in_1x1`` moves it to the first
    1x1 as in the paper (Sec. 4.1) and the Caffe SE-ResNet release. ``reduce_first`` divides
    the first 1x1's width (SENet-154 halves it; Hu et al. 2018, Appendix "Details of SENet-154").
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer | None = None,
        drop_path_rate: float = 0.0,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = False,
        reduce_first: int = 1,
        dilation: int = 1,
        first_dilation: int | None = None,
        residual: bool = True,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        first = width // reduce_first
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, first, 1, stride=s1, bias=False)
        self.bn1 = make_norm(norm_layer, first)
        self.conv2 = _conv3x3(first, width, s3, first_dilation or dilation, groups)
        self.bn2 = make_norm(norm_layer, width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = make_norm(norm_layer, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.se = _attn(attn_layer, planes * self.expansion)
        self.drop_path = _drop_path(drop_path_rate)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def zero_init_last(self) -> None:
        weight = getattr(self.bn3, "weight", None)
        if isinstance(weight, torch.Tensor):
            nn.init.zeros_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.drop_path(self.se(out))
        if self.residual:
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity  # in place, as torchvision: one tensor fewer per block
        return self.relu(out)


class PreActBasicBlock(nn.Module):
    """BN, ReLU, 3x3 conv, BN, ReLU, 3x3 conv, (+ attention), add the shortcut; no ReLU after.

    The full pre-activation unit of He et al. 2016, "Identity Mappings in Deep Residual
    Networks", Fig. 4(e), with two 3x3 layers. A projection shortcut reads the pre-activated
    input (BN-ReLU applied once, shared by both paths), as in the authors' code and timm.
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer | None = None,
        drop_path_rate: float = 0.0,
        dilation: int = 1,
        first_dilation: int | None = None,
        residual: bool = True,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.bn1 = make_norm(norm_layer, inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = _conv3x3(inplanes, planes, stride, first_dilation or dilation)
        self.bn2 = make_norm(norm_layer, planes)
        self.conv2 = _conv3x3(planes, planes, dilation=dilation)
        self.se = _attn(attn_layer, planes)
        self.drop_path = _drop_path(drop_path_rate)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def zero_init_last(self) -> None:
        # no BN ends the branch in v2: zero the last conv instead (timm's zero_init_last)
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu(self.bn1(x))
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(preact)
        out = self.conv1(preact)
        out = self.drop_path(self.se(self.conv2(self.relu(self.bn2(out)))))
        if self.residual:
            out += shortcut
        return out


class PreActBottleneck(nn.Module):
    """BN, ReLU, 1x1 conv, BN, ReLU, 3x3 conv, BN, ReLU, 1x1 conv, (+ attention), add.

    The pre-activation bottleneck of He et al. 2016, Fig. 4(e) and Sec. 4, stride on the 3x3
    (as timm's ``resnetv2_*``); the projection shortcut reads the pre-activated input.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnLayer | None = None,
        drop_path_rate: float = 0.0,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        first_dilation: int | None = None,
        residual: bool = True,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.bn1 = make_norm(norm_layer, inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn2 = make_norm(norm_layer, width)
        self.conv2 = _conv3x3(width, width, stride, first_dilation or dilation, groups)
        self.bn3 = make_norm(norm_layer, width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.se = _attn(attn_layer, planes * self.expansion)
        self.drop_path = _drop_path(drop_path_rate)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = self.relu(self.bn1(x))
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.drop_path(self.se(self.conv3(self.relu(self.bn3(out)))))
        if self.residual:
            out += shortcut
        return out


class ZeroPadShortcut(nn.Module):
    """The parameter-free shortcut of option (A): subsample by the stride, pad with zero maps.

    He et al. 2015, Sec. 3.3: "(A) zero-padding shortcuts are used for increasing
    dimensions, and all shortcuts are parameter-free", the shortcut of the CIFAR networks
    (Sec. 4.2). The identity keeps every ``stride``-th pixel (``pool``: a 1x1 average pooling
    with that stride) and gains ``out_chs - in_chs`` zero channels after its own, as in the
    authors' Torch code (fb.resnet.torch, ``shortcutType 'A'``: SpatialAveragePooling(1, 1,
    stride, stride) concatenated with zeros).
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1) -> None:
        super().__init__()
        if out_chs < in_chs:
            raise InvalidArgumentError(f"a zero-padding shortcut cannot narrow {in_chs} channels to {out_chs}")
        self.pool: nn.Module = nn.AvgPool2d(1, stride) if stride > 1 else nn.Identity()
        self.extra = out_chs - in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(self.pool(x), [0, 0, 0, 0, 0, self.extra])

    def extra_repr(self) -> str:
        return f"zero_channels={self.extra}"


Block = type[BasicBlock] | type[Bottleneck] | type[PreActBasicBlock] | type[PreActBottleneck]
_PREACT = (PreActBasicBlock, PreActBottleneck)
# the network's options each block understands; the others must stay at their default
_BLOCK_OPTIONS: dict[type, frozenset[str]] = {
    BasicBlock: frozenset({"act_before_attn"}),
    Bottleneck: frozenset({"groups", "width_per_group", "stride_in_1x1", "reduce_first"}),
    PreActBasicBlock: frozenset(),
    PreActBottleneck: frozenset({"groups", "width_per_group"}),
}
_OPTION_DEFAULTS: dict[str, Any] = {
    "act_before_attn": False,
    "groups": 1,
    "width_per_group": 64,
    "stride_in_1x1": False,
    "reduce_first": 1,
}
#: one count per stage: three stages (the CIFAR networks, Sec. 4.2) or four (ImageNet, Table 1); the
#: constructor's check reads this exact shape, type checkers any sequence of ints (a list is a tuple here)
if TYPE_CHECKING:
    Stages = Sequence[int]
else:
    Stages = tuple[Count, Count, Count] | tuple[Count, Count, Count, Count]
StemType = Literal["7x7", "deep", "cifar"]
#: He et al. 2015, Sec. 3.3: (A) zero-padding shortcuts where the shape changes, (B)
#: projections there, (C) projections everywhere; "none" leaves them out (plain networks)
Shortcut = Literal["A", "B", "C", "none"]


def _options_of(block: Block) -> frozenset[str]:
    # a block's options are those of the block type it is (a subclass keeps them)
    return next(options for kind, options in _BLOCK_OPTIONS.items() if issubclass(block, kind))


# --------------------------------------------------------------------------- network


class ResNet(ZooModel):
    """A residual network: stem, stages of residual blocks, global average pool, ``fc``.

    He et al. 2015, "Deep Residual Learning for Image Recognition", Table 1: ``layers`` is
    the number of blocks per stage, ``block`` the block type (its ``expansion`` sets the
    output width). Every variant of the family is an option of this one class, so a fix to
    one variant is a fix to all; options that exist to reproduce a published layout name their source.

    Args:
        block: ``BasicBlock``/``Bottleneck`` (v1) or ``PreActBasicBlock``/``PreActBottleneck``
            (v2: the stem loses its BN-ReLU and a final BN-ReLU precedes the pooling, He et
            al. 2016, Sec. 4.1).
        layers: blocks per stage, three or four positive integers, e.g. ``(3, 4, 6, 3)``.
        channels: the stages' widths (planes; times ``expansion`` out), ``(64, 128, 256, 512)``
            for ImageNet (Table 1), ``(16, 32, 64)`` for CIFAR (Sec. 4.2); timm's name.
        num_classes: classifier outputs; 0 gives no classifier (pooled features out).
        in_chans: input channels.
        groups, width_per_group: cardinality and width of the grouped 3x3 in bottlenecks
            (ResNeXt "32x4d" is 32 and 4; Wide ResNet-50-2 is 1 and 128), torchvision's args.
        zero_init_residual: zero the last BatchNorm of each residual branch (the last
            convolution in v2 blocks, which end without one), so that every block starts as
            the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 5.1; He et
            al. 2019, "Bag of Tricks", Sec. 3.1 "zero gamma"). None, the default, turns it on
            wherever the network has residual branches (not for ``shortcut="none"``), as timm's
            ``zero_init_last=True``; torchvision's default is off, and the papers differ (He et
            al. 2015 start every BatchNorm at weight 1). Without it a fresh network is not
            finite at depth in eval mode, where a fresh BatchNorm is the identity and each
            block adds a branch as large as its input: ResNet-110's logits reach about 1e5 and
            ResNet-1202's 1e16 or overflow. Loaded weights overwrite it; pass ``False`` for
            torchvision's initialisation.
        drop_rate: dropout before ``fc`` (the head dropout).
        drop_path_rate: stochastic depth of the last block; earlier blocks get rates that
            rise linearly from 0 over the network (Huang et al. 2016, Sec. 3 "linear decay";
            counting from 0 at the first block as timm does, where the paper's rule gives
            ``rate / L``).
        attn_layer: a callable ``channels -> module`` applied to each residual branch before
            the addition, e.g. ``SqueezeExcitation`` (Hu et al. 2018, Fig. 3).
        act_before_attn: ReLU before the attention in ``BasicBlock`` (timm legacy SE-ResNet-18/34).
        stem_type: ``"7x7"`` (one 7x7 conv, He et al. 2015), ``"deep"`` (three 3x3 convs of
            ``stem_width // 2``, ``stem_width // 2``, ``stem_width`` channels: SENet-154, Hu et
            al. 2018, Appendix; the Caffe release's ``input_3x3``) or ``"cifar"`` (one 3x3
            stride-1 conv and no max pooling, Sec. 4.2).
        stem_width: channels out of the stem (SENet-154 uses 128, the CIFAR networks 16).
        stem_pool_ceil: stem max pool with ``ceil_mode=True`` and no padding, the Caffe
            pooling the SENet release was trained with (timm ``legacy_senet``: "to preserve
            compatibility with Caffe weights"); otherwise padding 1 as torchvision.
        stride_in_1x1: bottleneck stride on the first 1x1 (paper and Caffe SE-ResNet).
        reduce_first: first 1x1 of each bottleneck is ``width // reduce_first`` (SENet-154: 2).
        down_kernel_size: kernel of the strided projection shortcuts (padding ``k // 2``);
            SENet-154 uses 3 (Hu et al. 2018, Appendix; stage 1's stride-1 projection stays 1x1).
        shortcut: where the shape changes, ``"B"`` projects (1x1 conv and BN; torchvision,
            timm), ``"A"`` zero-pads (:class:`ZeroPadShortcut`, the CIFAR networks), ``"C"``
            projects in every block; ``"none"`` builds the plain network (Sec. 3.3 and 4.1).
        replace_stride_with_dilation: one flag per stage after the first (torchvision's
            argument): a flagged stage keeps the resolution and dilates its 3x3s instead
            (``[False, True, True]``: output stride 8, for segmentation as in DeepLab).
        output_stride: timm's spelling of the same: 32, 16, 8 (or 4) for the ImageNet
            networks; the last stages are dilated until the network's stride is this.
        norm_layer: torchvision's argument: a callable taking a channel count and returning the
            normalisation layer used wherever the network has batch normalisation (None:
            ``nn.BatchNorm2d``, Ioffe and Szegedy 2015, as in the paper, Sec. 3.4), e.g.
            ``lambda c: nn.GroupNorm(32, c)`` (Wu and He 2018) or ``nn.Identity``.
    """

    def __init__(
        self,
        block: Block,
        layers: Stages,
        *,
        channels: Stages = (64, 128, 256, 512),
        num_classes: int = 1000,
        in_chans: int = 3,
        groups: Count = 1,
        width_per_group: Count = 64,
        zero_init_residual: bool | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: Rate = 0.0,
        attn_layer: AttnLayer | None = None,
        act_before_attn: bool = False,
        stem_type: StemType = "7x7",
        stem_width: Count = 64,
        stem_pool_ceil: bool = False,
        stride_in_1x1: bool = False,
        reduce_first: Count = 1,
        down_kernel_size: Count = 1,
        shortcut: Shortcut = "B",
        replace_stride_with_dilation: Sequence[bool] | None = None,
        output_stride: int | None = None,
        norm_layer: NormLayer | None = None,
        arch_name: str = "ResNet",
    ) -> None:
        block_options = {
            "act_before_attn": act_before_attn,
            "groups": groups,
            "width_per_group": width_per_group,
            "stride_in_1x1": stride_in_1x1,
            "reduce_first": reduce_first,
        }
        _check_options(block, block_options, down_kernel_size)
        if shortcut == "none" and (zero_init_residual or drop_path_rate > 0):
            raise InvalidArgumentError(
                "a plain network (shortcut='none') has no residual branch for zero_init_residual or drop_path_rate"
            )
        if zero_init_residual is None:
            zero_init_residual = shortcut != "none"
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        if len(layers) != len(channels):
            raise InvalidArgumentError(f"layers {layers} and channels {channels} must name the same stages")
        # the stem's stride (2 for ImageNet: the stem map is H/2), then with its max pool (H/4)
        stem_stride, reduction = (1, 1) if stem_type == "cifar" else (2, 4)
        plan = _stage_plan(len(layers), replace_stride_with_dilation, output_stride, reduction)
        # torchvision's blocks call the width per group ``base_width``
        block_kwargs = {
            "base_width" if k == "width_per_group" else k: v
            for k, v in block_options.items()
            if k in _options_of(block)
        }
        preact = issubclass(block, _PREACT)
        self.shortcut = shortcut
        norm = nn.BatchNorm2d if norm_layer is None else norm_layer
        self._make_stem(stem_type, in_chans, stem_width, preact, stem_pool_ceil, norm)
        # every stage pads its strided convolutions, so only the stem limits the input: 1x1 for
        # torchvision's stem (its weights meta says min_size (1, 1)); 3x3 for the Caffe
        # release's unpadded ceil-mode pool (Hu et al.'s SENets)
        self.min_input_size = (in_chans, *smallest_input_size([*self.conv1.modules(), self.maxpool]))

        info = [dict(num_chs=stem_width, reduction=stem_stride, module="conv1" if preact else "relu")]
        self.inplanes = stem_width
        total, done = sum(layers), 0
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        for i, (planes, depth, (stride, dilation, previous)) in enumerate(zip(channels, layers, plan)):
            stages.append(
                self._make_layer(
                    block,
                    planes,
                    depth,
                    stride,
                    (dilation, previous),
                    attn_layer,
                    preact,
                    down_kernel_size,
                    rates[done : done + depth],
                    {**block_kwargs, "norm_layer": norm},
                )
            )
            done += depth
            reduction *= stride
            info.append(dict(num_chs=self.inplanes, reduction=reduction, module=f"layer{i + 1}"))
        self.layer1, self.layer2, self.layer3 = stages[:3]
        # the three-stage CIFAR networks have no layer4
        self.layer4: nn.Sequential | None = stages[3] if len(stages) == 4 else None
        self.num_features = channels[-1] * block.expansion
        # v2's last addition is followed by BN-ReLU before pooling (He et al. 2016, Sec. 4.1);
        # it belongs to the last stage's output
        self.final_bn: nn.Module = make_norm(norm, self.num_features) if preact else nn.Identity()
        self.final_relu: nn.Module = nn.ReLU(inplace=True) if preact else nn.Identity()
        if preact:
            info[-1]["module"] = "final_relu"
        self.set_feature_info(info)  # the stem and every stage (timm's taps)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        # He init for convs (He et al. 2015b, "Delving Deep into Rectifiers"), as torchvision
        init_weights(self, he_normal("fan_out"), zero_init_last=zero_init_residual)
        self.fc = self.new_classifier("fc", self.num_features)

    def _make_stem(
        self, stem_type: str, in_chans: int, stem_width: int, preact: bool, pool_ceil: bool, norm: NormLayer
    ) -> None:
        # N x in_chans x H x W -> N x stem_width x H/4 x W/4 (H x W for the CIFAR stem)
        if stem_type == "deep":
            mid = stem_width // 2
            self.conv1: nn.Module = nn.Sequential(
                nn.Conv2d(in_chans, mid, 3, stride=2, padding=1, bias=False),
                make_norm(norm, mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, mid, 3, padding=1, bias=False),
                make_norm(norm, mid),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid, stem_width, 3, padding=1, bias=False),
            )
        elif stem_type == "cifar":
            # "The first layer is 3x3 convolutions" on the 32x32 image, no pooling (Sec. 4.2)
            self.conv1 = nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_chans, stem_width, 7, stride=2, padding=3, bias=False)
        # v2 units begin with BN-ReLU, so the stem ends at its conv (He et al. 2016, Fig. 4e)
        self.bn1: nn.Module = nn.Identity() if preact else make_norm(norm, stem_width)
        self.relu: nn.Module = nn.Identity() if preact else nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity()
        if stem_type != "cifar":
            self.maxpool = (
                nn.MaxPool2d(3, stride=2, ceil_mode=True) if pool_ceil else nn.MaxPool2d(3, stride=2, padding=1)
            )

    def _make_layer(
        self,
        block: Block,
        planes: int,
        depth: int,
        stride: int,
        dilations: tuple[int, int],
        attn_layer: AttnLayer | None,
        preact: bool,
        down_kernel_size: int,
        rates: list[float],
        block_kwargs: dict[str, Any],
    ) -> nn.Sequential:
        dilation, previous = dilations
        out = planes * block.expansion
        common = dict(block_kwargs, dilation=dilation, residual=self.shortcut != "none")
        blocks = [
            block(
                self.inplanes,
                planes,
                stride,
                self._shortcut(out, stride, preact, down_kernel_size, block_kwargs["norm_layer"]),
                attn_layer,
                rates[0],
                first_dilation=previous,
                **common,
            )
        ]
        self.inplanes = out
        blocks += [
            block(
                out,
                planes,
                1,
                self._shortcut(out, 1, preact, down_kernel_size, block_kwargs["norm_layer"]),
                attn_layer,
                r,
                first_dilation=dilation,
                **common,
            )
            for r in rates[1:]
        ]
        return nn.Sequential(*blocks)

    def _shortcut(
        self, out: int, stride: int, preact: bool, down_kernel_size: int, norm: NormLayer
    ) -> nn.Module | None:
        """The shortcut of a block whose input has ``self.inplanes`` channels (None: the identity)."""
        changes = stride != 1 or self.inplanes != out
        if self.shortcut == "none" or (self.shortcut != "C" and not changes):
            return None
        if self.shortcut == "A":
            return ZeroPadShortcut(self.inplanes, out, stride)
        # a stride-1 projection only changes width: it stays 1x1 (SENet-154's stage 1)
        k = down_kernel_size if stride != 1 else 1
        conv = nn.Conv2d(self.inplanes, out, k, stride=stride, padding=k // 2, bias=False)
        # v2 projects the already normalised input, so no BN follows (He et al. 2016)
        return nn.Sequential(conv) if preact else nn.Sequential(conv, make_norm(norm, out))


def _stage_plan(
    num_stages: int, replace: Sequence[bool] | None, output_stride: int | None, stem_reduction: int
) -> list[tuple[int, int, int]]:
    """(stride, dilation, dilation of the first block's strided 3x3) of each stage."""
    natural = stem_reduction * 2 ** (num_stages - 1)
    if replace is not None and output_stride is not None:
        raise InvalidArgumentError("give replace_stride_with_dilation (torchvision) or output_stride (timm), not both")
    if output_stride is not None:
        strides = [natural // 2**k for k in range(num_stages)]
        if output_stride not in strides:
            raise InvalidArgumentError(
                f"output_stride must be one of {strides} for this network, got {output_stride!r}"
            )
        dilated = strides.index(output_stride)
        replace = [False] * (num_stages - 1 - dilated) + [True] * dilated
    replace = [False] * (num_stages - 1) if replace is None else replace
    if len(replace) != num_stages - 1:  # of booleans (the annotation)
        raise InvalidArgumentError(
            f"replace_stride_with_dilation must be {num_stages - 1} booleans, one per "
            f"stage after the first, e.g. [False, True, True]; got {replace!r}"
        )
    plan, dilation = [(1, 1, 1)], 1
    for dilate in replace:
        previous = dilation
        if dilate:
            dilation *= 2
        plan.append((1 if dilate else 2, dilation, previous))
    return plan


def _check_options(block: Block, options: dict[str, Any], down_kernel_size: int) -> None:
    # what the annotations of ResNet's arguments cannot say: which block takes which option
    unsupported = [f"{k}={v!r}" for k, v in options.items() if k not in _options_of(block) and v != _OPTION_DEFAULTS[k]]
    if unsupported:
        raise InvalidArgumentError(
            f"{block.__name__} does not support {', '.join(unsupported)}; "
            f"it accepts {', '.join(sorted(_options_of(block))) or 'none of these options'}"
        )
    if down_kernel_size % 2 == 0:
        # an even kernel with padding k // 2 would change the map size of the shortcut only
        raise InvalidArgumentError(f"down_kernel_size must be odd, got {down_kernel_size}")


def build_resnet(
    name: str, block: Block, layers: Sequence[int], fixed: dict[str, Any], kwargs: dict[str, Any]
) -> ResNet:
    """Build a registered residual network: ``fixed`` are the options its name promises."""
    # a registered name promises an architecture: refuse arguments that would change it
    promised = {"block": block.__name__, "layers": tuple(layers), **fixed}
    clash = sorted(set(promised) & set(kwargs))
    if clash:
        raise InvalidArgumentError(
            f"{name} fixes {', '.join(f'{k}={promised[k]!r}' for k in clash)}; build "
            "cnnzoo.models.resnet.ResNet(...) directly for another configuration"
        )
    return ResNet(block, layers, **fixed, **kwargs, arch_name=name)


# --------------------------------------------------------------------------- constructors

_V1: dict[str, Any] = dict(
    family="resnet",
    paper="Deep Residual Learning for Image Recognition",
    authors="K. He, X. Zhang, S. Ren, J. Sun",
    year=2015,
    url="https://arxiv.org/abs/1512.03385",
    input_size=(3, 224, 224),
    num_classes=1000,
)
_V2: dict[str, Any] = dict(
    _V1, paper="Identity Mappings in Deep Residual Networks", year=2016, url="https://arxiv.org/abs/1603.05027"
)
_RESNEXT: dict[str, Any] = dict(
    _V1,
    paper="Aggregated Residual Transformations for Deep Neural Networks",
    authors="S. Xie, R. Girshick, P. Dollár, Z. Tu, K. He",
    year=2017,
    url="https://arxiv.org/abs/1611.05431",
)
_WIDE: dict[str, Any] = dict(
    _V1,
    paper="Wide Residual Networks",
    authors="S. Zagoruyko, N. Komodakis",
    year=2016,
    url="https://arxiv.org/abs/1605.07146",
)
_V2_NOTE = "timm resnetv2_* layout (key map 'timm_resnetv2'); stride on the 3x3"


@register_model(**_V1)
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); He et al. 2015, Table 1."""
    return build_resnet("resnet18", BasicBlock, (2, 2, 2, 2), {}, kwargs)


@register_model(**_V1)
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3); He et al. 2015, Table 1."""
    return build_resnet("resnet34", BasicBlock, (3, 4, 6, 3), {}, kwargs)


@register_model(**_V1, notes="stride on the 3x3 (v1.5), as torchvision")
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3); He et al. 2015, Table 1."""
    return build_resnet("resnet50", Bottleneck, (3, 4, 6, 3), {}, kwargs)


@register_model(**_V1, notes="stride on the 3x3 (v1.5), as torchvision")
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: bottleneck blocks (3, 4, 23, 3); He et al. 2015, Table 1."""
    return build_resnet("resnet101", Bottleneck, (3, 4, 23, 3), {}, kwargs)


@register_model(**_V1, notes="stride on the 3x3 (v1.5), as torchvision")
def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: bottleneck blocks (3, 8, 36, 3); He et al. 2015, Table 1."""
    return build_resnet("resnet152", Bottleneck, (3, 8, 36, 3), {}, kwargs)


@register_model(**_V2, notes=_V2_NOTE)
def resnet18v2(**kwargs: Any) -> ResNet:
    """Pre-activation ResNet-18: ``PreActBasicBlock`` (2, 2, 2, 2); He et al. 2016, Fig. 4(e)."""
    return build_resnet("resnet18v2", PreActBasicBlock, (2, 2, 2, 2), {}, kwargs)


@register_model(**_V2, notes=_V2_NOTE)
def resnet34v2(**kwargs: Any) -> ResNet:
    """Pre-activation ResNet-34: ``PreActBasicBlock`` (3, 4, 6, 3); He et al. 2016, Fig. 4(e)."""
    return build_resnet("resnet34v2", PreActBasicBlock, (3, 4, 6, 3), {}, kwargs)


@register_model(**_V2, notes=_V2_NOTE)
def resnet50v2(**kwargs: Any) -> ResNet:
    """Pre-activation ResNet-50: ``PreActBottleneck`` (3, 4, 6, 3); He et al. 2016, Fig. 4(e)."""
    return build_resnet("resnet50v2", PreActBottleneck, (3, 4, 6, 3), {}, kwargs)


@register_model(**_V2, notes=_V2_NOTE)
def resnet101v2(**kwargs: Any) -> ResNet:
    """Pre-activation ResNet-101: ``PreActBottleneck`` (3, 4, 23, 3); He et al. 2016, Table 3."""
    return build_resnet("resnet101v2", PreActBottleneck, (3, 4, 23, 3), {}, kwargs)


@register_model(**_V2, notes=_V2_NOTE)
def resnet152v2(**kwargs: Any) -> ResNet:
    """Pre-activation ResNet-152: ``PreActBottleneck`` (3, 8, 36, 3); He et al. 2016, Table 5."""
    return build_resnet("resnet152v2", PreActBottleneck, (3, 8, 36, 3), {}, kwargs)


@register_model(**_RESNEXT)
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-50 (32x4d): cardinality 32, 4 channels per group; Xie et al. 2017, Table 1."""
    return build_resnet("resnext50_32x4d", Bottleneck, (3, 4, 6, 3), {"groups": 32, "width_per_group": 4}, kwargs)


@register_model(**_RESNEXT)
def resnext101_32x8d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (32x8d): cardinality 32, 8 channels per group; Xie et al. 2017, Table 5."""
    return build_resnet("resnext101_32x8d", Bottleneck, (3, 4, 23, 3), {"groups": 32, "width_per_group": 8}, kwargs)


@register_model(**_WIDE, notes="the paper's ImageNet bottleneck WRN-50-2, as torchvision")
def wide_resnet50_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with bottleneck 3x3s twice as wide; Zagoruyko & Komodakis 2016."""
    return build_resnet("wide_resnet50_2", Bottleneck, (3, 4, 6, 3), {"width_per_group": 128}, kwargs)


@register_model(**_WIDE, notes="ResNet-101 with 2x wider bottlenecks (torchvision)")
def wide_resnet101_2(**kwargs: Any) -> ResNet:
    """Wide ResNet-101-2: ResNet-101 with bottleneck 3x3s twice as wide; Zagoruyko & Komodakis 2016."""
    return build_resnet("wide_resnet101_2", Bottleneck, (3, 4, 23, 3), {"width_per_group": 128}, kwargs)
