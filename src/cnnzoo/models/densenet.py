"""DenseNet: every layer sees the feature maps of all layers before it in its block.

Huang, Liu, van der Maaten, Weinberger, "Densely Connected Convolutional Networks",
CVPR 2017 (https://arxiv.org/abs/1608.06993). The ImageNet models are DenseNet-BC
(bottleneck layers and compression 0.5, Sec. 3) with the configurations of Table 1; the
module names are torchvision's, so its weight files load by identity (the pre-0.3 files,
whose keys read ``norm.1`` for ``norm1``, through the ``torchvision_densenet_legacy`` key
map). ``densenet_bc_100_k12`` is the paper's CIFAR network (Sec. 3, "Implementation
Details"; Table 2).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from .arguments import Count, NonEmpty, Rate, within
from .base import ZooModel
from .layers import check_input_size, he_normal, init_weights, smallest_input_size, stack_feature_info
from .registry import register_model

torch.fx.wrap("check_input_size")  # a leaf for torch.fx here too (see layers.check_input_size)

__all__ = [
    "DenseLayer",
    "DenseBlock",
    "Transition",
    "DenseNet",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet_bc_100_k12",
]

#: torch.jit.is_scripting (public, but not in torch.jit's __all__); the alias compiles as the original
_is_scripting = torch.jit.is_scripting  # type: ignore[attr-defined]

_PAPER: dict[str, Any] = dict(
    family="densenet",
    paper="Densely Connected Convolutional Networks",
    authors="G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger",
    year=2017,
    url="https://arxiv.org/abs/1608.06993",
)


class DenseLayer(nn.Module):
    """BN, ReLU, 1x1 conv (bn_size*k), BN, ReLU, 3x3 conv (k): one bottleneck layer H_l.

    Huang et al. 2017, Sec. 3, "Composite function" (BN-ReLU-Conv) and "Bottleneck
    layers" (a 1x1 convolution to 4k maps before each 3x3, DenseNet-B). It takes the list
    of all earlier feature maps of its block and returns its ``growth_rate`` new maps.
    With ``memory_efficient`` the concatenation, BN and 1x1 convolution are recomputed in
    the backward pass instead of stored (Pleiss et al. 2017, "Memory-Efficient
    Implementation of DenseNets"): the same outputs, gradients and BN running statistics
    as without it, for memory quadratic in depth no longer.
    """

    def __init__(
        self,
        num_input_features: int,
        growth_rate: int,
        bn_size: int,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bottleneck(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Concatenate the block's earlier maps, then BN, ReLU, 1x1 conv."""
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    @torch.jit.unused
    def _checkpointed_bottleneck(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.norm1.training:
            self._update_norm1_running_stats(features)
        return cp.checkpoint(self._stateless_bottleneck, *features, use_reentrant=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and torch.is_grad_enabled():
            if _is_scripting():  # as torchvision: TorchScript has no checkpointing
                raise RuntimeError("memory_efficient DenseNet layers do not run in TorchScript")
            out = self._checkpointed_bottleneck(features)
        else:
            out = self.bottleneck(features)
        out = self.conv2(self.relu2(self.norm2(out)))
        # dropout on the new maps only, as torchvision (the paper, Sec. 4.2, puts one
        # after every convolution when training without data augmentation)
        return F.dropout(out, p=self.drop_rate, training=self.training)

    def _stateless_bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        # What the checkpoint runs twice (forward, then again in backward): the same BN,
        # but it never updates the running statistics; that happens once, outside. (In
        # torchvision's memory-efficient DenseNet the recomputation updates them a second
        # time, and the in-place update inside the checkpoint breaks torch.compile.)
        bn = self.norm1
        x = torch.cat(features, 1)
        if bn.training:
            x = F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        else:
            x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)
        return self.conv1(F.relu(x))

    @torch.no_grad()
    def _update_norm1_running_stats(self, features: list[torch.Tensor]) -> None:
        # nn.BatchNorm2d's update (unbiased variance, momentum or cumulative average),
        # with the per-channel statistics of the concatenation taken piece by piece so
        # the concatenation itself is never stored
        bn = self.norm1
        assert bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
        mean = torch.cat([f.mean((0, 2, 3)) for f in features])
        var = torch.cat([f.var((0, 2, 3), correction=1) for f in features])
        bn.num_batches_tracked.add_(1)
        weight = 1.0 / bn.num_batches_tracked if bn.momentum is None else bn.momentum
        bn.running_mean.lerp_(mean, weight)
        bn.running_var.lerp_(var, weight)


class DenseBlock(nn.ModuleDict):
    """``num_layers`` DenseLayers; layer l gets the concatenation of the input and l-1 outputs.

    Huang et al. 2017, Sec. 3, "Dense connectivity", Eq. 2: x_l = H_l([x_0, ..., x_{l-1}]).
    The block's output has ``num_input_features + num_layers * growth_rate`` channels.
    """

    def __init__(
        self,
        num_layers: int,
        num_input_features: int,
        bn_size: int,
        growth_rate: int,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(
                f"denselayer{i + 1}",
                DenseLayer(
                    num_input_features + i * growth_rate,
                    growth_rate=growth_rate,
                    bn_size=bn_size,
                    drop_rate=drop_rate,
                    memory_efficient=memory_efficient,
                ),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """BN, ReLU, 1x1 conv (compression), 2x2 average pool: between two dense blocks.

    Huang et al. 2017, Sec. 3, "Pooling layers" (the down-sampling a concatenation
    cannot do inside a block) and "Compression" (theta*m output maps, DenseNet-C).
    """

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


#: theta, the share of a dense block's feature maps a transition keeps (Sec. 3, "Compression")
Compression = Annotated[float, within(0.0, 1.0, low_open=True)]


class DenseNet(ZooModel):
    """DenseNet-BC: a stem, dense blocks joined by compressing transitions, BN-ReLU, pool, FC.

    Huang et al. 2017, Sec. 3 and Table 1. The architecture is data: ``growth_rate`` (k),
    ``block_config`` (layers per dense block), ``num_init_features`` (stem width),
    ``bn_size`` (bottleneck width as a multiple of k) and ``compression`` (theta).
    ``stem="imagenet"`` is Table 1's 7x7/2 convolution, BN, ReLU and 3x3/2 max pool;
    ``stem="cifar"`` is the single 3x3 convolution of the CIFAR networks (Sec. 3,
    "Implementation Details"), whose first dense layer starts with its own BN-ReLU.
    ``proj_drop_rate`` is the dropout on each dense layer's new maps (torchvision's
    ``drop_rate``; timm's name), ``drop_rate`` the dropout before the classifier.
    """

    def __init__(
        self,
        growth_rate: Count = 32,
        block_config: Annotated[Sequence[Count], NonEmpty] = (6, 12, 24, 16),
        num_init_features: Count = 64,
        bn_size: Count = 4,
        *,
        compression: Compression = 0.5,
        stem: Literal["imagenet", "cifar"] = "imagenet",
        drop_rate: float = 0.0,
        proj_drop_rate: Rate = 0.0,
        memory_efficient: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        arch_name: str = "DenseNet",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        self.growth_rate = growth_rate
        self.block_config = tuple(block_config)

        if stem == "imagenet":
            self.features = nn.Sequential(
                OrderedDict(
                    [
                        (
                            "conv0",
                            nn.Conv2d(in_chans, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
                        ),
                        ("norm0", nn.BatchNorm2d(num_init_features)),
                        ("relu0", nn.ReLU(inplace=True)),
                        ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                    ]
                )
            )
        else:
            self.features = nn.Sequential(
                OrderedDict(
                    [
                        ("conv0", nn.Conv2d(in_chans, num_init_features, kernel_size=3, padding=1, bias=False)),
                    ]
                )
            )

        channels = num_init_features
        widths = [channels] * len(self.features)  # each layer's output channels
        for i, num_layers in enumerate(self.block_config):
            self.features.add_module(
                f"denseblock{i + 1}",
                DenseBlock(
                    num_layers,
                    channels,
                    bn_size=bn_size,
                    growth_rate=growth_rate,
                    drop_rate=proj_drop_rate,
                    memory_efficient=memory_efficient,
                ),
            )
            channels += num_layers * growth_rate
            widths.append(channels)
            if i != len(self.block_config) - 1:
                out = math.floor(compression * channels)  # floor(theta*m), Sec. 3 "Compression"
                self.features.add_module(f"transition{i + 1}", Transition(channels, out))
                channels = out
                widths.append(channels)
        # the transitions' unpadded 2x2 average pools are what limit the input (29x29 for the
        # ImageNet networks, torchvision's min_size; 4x4 for the CIFAR one)
        self.min_input_size = (in_chans, *smallest_input_size(self.features.modules()))
        # the last block's maps still need their BN-ReLU before pooling (pre-activation)
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.num_features = channels
        # stage outputs: the stem (ImageNet: relu0 at stride 2), each dense block before its
        # transition, and norm5; the ReLU after norm5 has no module (torchvision's layout):
        # forward_intermediates(norm=True) applies it to the last map
        self.set_feature_info(stack_feature_info(self.features, [*widths, channels]))
        self.ends_with_norm5 = True
        # torchvision's init: He-normal convolutions (fan_in), unit BN
        init_weights(self, he_normal("fan_in"))
        self.classifier = self.new_classifier("classifier", channels)

    def init_classifier(self, layer: nn.Linear) -> None:
        """PyTorch's default weights and a zero bias, as torchvision's DenseNet."""
        nn.init.zeros_(layer.bias)

    def forward_stages(
        self, x: torch.Tensor, take: list[int], stop_index: int = -1, norm: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The stack, then the ReLU after norm5: N x num_features x H/32 x W/32 (H/4 for CIFAR).

        With ``norm`` the last stage (norm5) is returned after that ReLU too.
        """
        check_input_size(x, self.arch_name, self.min_input_size)
        x, maps = self.run_stages(x, take, stop_index)
        last = len(self.feature_ends) - 1
        if self.ends_with_norm5 and (stop_index < 0 or stop_index == last):
            x = F.relu(x)  # not in place: the last map may be this tensor
            if norm and last in take:
                maps[-1] = x
        return x, maps

    def prune_stages_after(self, index: int) -> None:
        """Cut the stack after stage ``index`` (before norm5): no final ReLU follows then."""
        super().prune_stages_after(index)
        self.ends_with_norm5 = False


_IMAGENET: dict[str, Any] = dict(_PAPER, input_size=(3, 224, 224), num_classes=1000)


@register_model(**_IMAGENET)
def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121 (k=32, blocks (6, 12, 24, 16), 64 stem maps); Huang et al. 2017, Table 1."""
    return DenseNet(32, (6, 12, 24, 16), 64, arch_name="densenet121", **kwargs)


@register_model(**_IMAGENET)
def densenet161(**kwargs: Any) -> DenseNet:
    """DenseNet-161 (k=48, blocks (6, 12, 36, 24), 96 stem maps); Huang et al. 2017, Table 1."""
    return DenseNet(48, (6, 12, 36, 24), 96, arch_name="densenet161", **kwargs)


@register_model(**_IMAGENET)
def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169 (k=32, blocks (6, 12, 32, 32), 64 stem maps); Huang et al. 2017, Table 1."""
    return DenseNet(32, (6, 12, 32, 32), 64, arch_name="densenet169", **kwargs)


@register_model(**_IMAGENET)
def densenet201(**kwargs: Any) -> DenseNet:
    """DenseNet-201 (k=32, blocks (6, 12, 48, 32), 64 stem maps); Huang et al. 2017, Table 1."""
    return DenseNet(32, (6, 12, 48, 32), 64, arch_name="densenet201", **kwargs)


# Output stride 4 (two transitions), so a 4x4 input still reaches the last block at 1x1.
@register_model(
    **_PAPER,
    input_size=(3, 32, 32),
    num_classes=10,
    notes="CIFAR network: 32x32 input, no initial pooling, default 10 classes",
)
def densenet_bc_100_k12(**kwargs: Any) -> DenseNet:
    """DenseNet-BC (L=100, k=12) for CIFAR; Huang et al. 2017, Sec. 3 and Table 2.

    Three dense blocks of 16 bottleneck layers ((100 - 4) / 6 = 16: two convolutions per
    layer), growth rate 12, a 3x3 first convolution with 2k = 24 maps and no pooling,
    transitions with compression 0.5, global average pooling. 769,162 parameters with
    10 classes (Table 2: 0.8M).
    """
    return DenseNet(12, (16, 16, 16), 24, 4, stem="cifar", arch_name="densenet_bc_100_k12", **kwargs)
