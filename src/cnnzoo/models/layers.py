"""What more than one family shares: stochastic depth, squeeze-and-excitation, the weight
initialisation, and the input check every network runs first.

Family-specific blocks (``BasicBlock``, ``Inception``, ``DenseLayer`` ...) live in their
family's file, next to the network that uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from ..errors import InputSizeError, InvalidArgumentError
from ..limits import check_count
from .arguments import check_rate

__all__ = [
    "DropPath",
    "SqueezeExcitation",
    "GLOBAL_POOLS",
    "AdaptiveAvgMaxPool2d",
    "AdaptiveCatAvgMaxPool2d",
    "make_global_pool",
    "pool_feat_mult",
    "NormLayer",
    "make_norm",
    "make_divisible",
    "check_model_args",
    "has_storage",
    "check_input_size",
    "smallest_input_size",
    "stack_feature_info",
    "LayerInit",
    "init_weights",
    "he_normal",
    "normal_init",
]


def check_model_args(num_classes: int, in_chans: int) -> None:
    """Reject the arguments every constructor shares when they make no network (the bounds of
    :data:`cnnzoo.limits.LIMITS`)."""
    # num_classes=0 is allowed, as in timm: the network then ends at its pooled features
    check_count("num_classes", num_classes, low=0)
    check_count("in_chans", in_chans)


def has_storage(module: nn.Module) -> bool:
    """False for a module on the meta device: its initialisation has nothing to fill (and meta
    tensors run the init functions slowly, through Python decompositions)."""
    return any(p.device.type != "meta" for p in module.parameters())


#: torch.jit.is_tracing and is_scripting (public, but not in torch.jit's __all__, which type
#: checkers go by); TorchScript knows the functions themselves, so the aliases compile as they do
_is_tracing = torch.jit.is_tracing  # type: ignore[attr-defined]
_is_scripting = torch.jit.is_scripting  # type: ignore[attr-defined]


# torch.fx records it as one call (a leaf), so tracing never branches on a traced shape; FX
# patches the name module by module, so each model file that imports it repeats the
# torch.fx.wrap. Like torch._assert it survives dead-code elimination, so a feature extractor
# built with FX still checks its input. torch.compile sees comparisons of static sizes:
# guards, not graph breaks.
@torch.fx.node.has_side_effect
@torch.fx.wrap
def check_input_size(x: torch.Tensor, name: str, min_size: tuple[int, int, int], exact: bool = False) -> None:
    """Raise :class:`~cnnzoo.errors.InputSizeError` unless ``x`` is a batch the network takes.

    ``x`` must be N x C x H x W with C = ``min_size[0]`` (the network's ``in_chans``) and
    H, W at least ``min_size[1:]`` (exactly, if ``exact``: a classifier tied to one size).
    ``name`` names the network in the message. A few integer comparisons, so each network
    calls it at the start of ``forward_features``.
    """
    # (TorchScript types x as a Tensor and does not compile this branch: is_scripting() is a constant)
    if not _is_scripting() and not isinstance(x, torch.Tensor):
        raise InputSizeError(
            f"{name} takes a batch of images as a torch.Tensor, N x {min_size[0]} x H x W; got a {type(x).__name__}"
        )
    if _is_tracing():
        # a trace (torch.jit.trace, the TorchScript ONNX exporter) keeps tensor operations
        # only: the check would be frozen in as passed, with a TracerWarning per comparison
        return
    problem = _input_size_problem(list(x.shape), name, min_size, exact)
    if problem:
        raise InputSizeError(problem)


def _input_size_problem(shape: list[int], name: str, min_size: tuple[int, int, int], exact: bool) -> str:
    # what is wrong with a batch of this shape, in words ("" where nothing is): the one place that
    # decides it (a passing shape costs the comparisons only, no formatting, for torch.compile's sake)
    chans, height, width = min_size
    if len(shape) != 4:
        dims = "x".join([str(d) for d in shape])
        hint = " (one image: add the batch dimension, x.unsqueeze(0))" if len(shape) == 3 else ""
        return f"{name} takes a batch of images, N x {chans} x H x W; got a tensor of shape {dims}{hint}"
    if shape[1] != chans:
        return (
            f"{name} was built for {chans} input channels (in_chans={chans}), got {shape[1]}; "
            f"convert the images, or build the model with in_chans={shape[1]}"
        )
    if exact and (shape[2] != height or shape[3] != width):
        return (
            f"{name} needs an input of exactly {height}x{width} pixels, got {shape[2]}x{shape[3]}; "
            f"resize or pad the images to {height}x{width}"
        )
    if shape[2] < height or shape[3] < width:
        return (
            f"{name} needs an input of at least {height}x{width} pixels, got {shape[2]}x{shape[3]}; "
            f"resize or pad the images to at least {height}x{width}"
        )
    return ""


def smallest_input_size(layers: Iterable[nn.Module]) -> tuple[int, int]:
    """The smallest (H, W) for which every map stays at least 1x1 through ``layers``, in order.

    Only ``nn.Conv2d``, ``nn.MaxPool2d`` and ``nn.AvgPool2d`` change the size, by PyTorch's
    own output-size formulas (``ceil_mode`` included); other modules are taken to keep it,
    so pass only a chain whose other modules do (activations, normalisation, branches that
    pad to the same size).
    """
    sized = [m for m in layers if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))]
    return _smallest(sized, 0), _smallest(sized, 1)


def _smallest(layers: Sequence[nn.Module], dim: int) -> int:
    size = 1
    while not _fits(layers, dim, size):  # output sizes grow with the input: the first fit is least
        size += 1
    return size


def _fits(layers: Sequence[nn.Module], dim: int, size: int) -> bool:
    for m in layers:
        k, s = _pair(m.kernel_size)[dim], _pair(m.stride)[dim]
        pad = getattr(m, "padding", 0)
        if isinstance(pad, str):  # "same" keeps the size (stride 1 only), "valid" pads nothing
            if pad == "same":
                continue
            pad = 0
        p = _pair(pad)[dim]
        d = _pair(getattr(m, "dilation", 1))[dim]
        ceil = bool(getattr(m, "ceil_mode", False))
        # torch's pooling_output_shape: rounding up, but no window may start in the right padding
        out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
        if ceil and (out - 1) * s >= size + p:
            out -= 1
        if out < 1:
            return False
        size = out
    return True


def stack_feature_info(stack: nn.Sequential, channels: Sequence[int], prefix: str = "features") -> list[dict[str, Any]]:
    """The stage outputs of a layer stack: the last layer at each stride (``feature_info``).

    ``channels[i]`` is the output width of the stack's ``i``-th layer. A layer's stride is the
    product of the strides of the convolutions and poolings inside it (a strided block is
    one stride step, whatever its shortcut does); the stage at stride ``r`` ends with the
    last layer before the next step, so each entry is ``dict(num_chs, reduction=r,
    module=f"{prefix}.{name}")``, the last one the stack's output.
    """
    children = list(stack.named_children())
    if len(children) != len(channels):
        raise ValueError(f"{len(children)} layers but {len(channels)} channel counts")
    reduction = 1
    stages: dict[int, dict[str, Any]] = {}
    for (name, layer), chs in zip(children, channels):
        reduction *= _layer_stride(layer)
        stages[reduction] = dict(num_chs=int(chs), reduction=reduction, module=f"{prefix}.{name}")
    return list(stages.values())  # reductions only grow, so insertion order is forward order


def _layer_stride(layer: nn.Module) -> int:
    stride = 1
    for m in layer.modules():
        # the built-in strided layers, and leaf layers of our own that declare a stride
        # (LeNet-5's trainable subsampling)
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) or (not list(m.children()) and hasattr(m, "stride")):
            stride *= _pair(m.stride)[0]
    return stride


#: draws the weights (and, if it chooses, the bias) of one ``nn.Conv2d`` or ``nn.Linear``
LayerInit = Callable[[nn.Conv2d | nn.Linear], None]


def init_weights(
    root: nn.Module,
    conv: LayerInit | None = None,
    linear: LayerInit | None = None,
    *,
    bias: float | None = 0.0,
    zero_init_last: bool = False,
) -> None:
    """Initialise the layers under ``root``: the one walk every family parametrises.

    Each convolution is drawn by ``conv`` and each linear layer by ``linear``; a kind without
    an initialiser keeps PyTorch's default, bias included. The bias of a drawn layer is then
    set to ``bias`` (None: as the initialiser left it). Batch norms start as the identity
    (weight 1, bias 0). ``zero_init_last`` calls ``zero_init_last()`` on every block that
    defines it, which zeroes the last layer of its residual branch so that the block starts as
    the identity (Goyal et al. 2017, Sec. 5.1). Nothing is drawn on the meta device.
    """
    if not has_storage(root):
        return
    for m in root.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            continue
        init = conv if isinstance(m, nn.Conv2d) else linear
        if isinstance(m, (nn.Conv2d, nn.Linear)) and init is not None:
            init(m)
            if bias is not None and m.bias is not None:
                nn.init.constant_(m.bias, bias)
    for m in root.modules() if zero_init_last else ():
        zero_last = getattr(m, "zero_init_last", None)
        if callable(zero_last):
            zero_last()


def he_normal(mode: str = "fan_out", per_group: bool = False) -> LayerInit:
    """N(0, 2 / fan): He et al. 2015, "Delving Deep into Rectifiers", Sec. 2.2, for layers before a ReLU.

    ``mode`` is ``"fan_out"`` (torchvision's ResNet and VGG) or ``"fan_in"`` (its DenseNet).
    ``per_group`` takes a grouped convolution's fan-out per group, each filter's true fan-out
    (timm's EfficientNet init): torch's ``kaiming_normal_`` ignores groups, which makes every
    depthwise filter sqrt(channels) too small, so the signal shrinks block after block until
    the BN statistics catch up.
    """

    def init(m: nn.Conv2d | nn.Linear) -> None:
        weight = m.weight
        # fan-in: the inputs of one output unit; fan-out: the outputs one input reaches (torch's rule)
        fan = weight[0].numel() if mode == "fan_in" else weight.shape[0] * weight[0, 0].numel()
        if mode != "fan_in" and per_group:
            fan //= getattr(m, "groups", 1)
        nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan))

    return init


def normal_init(std: float) -> LayerInit:
    """N(0, ``std``) weights: torchvision's fully connected layers of VGG and MobileNet use 0.01."""

    def init(m: nn.Conv2d | nn.Linear) -> None:
        nn.init.normal_(m.weight, 0.0, std)

    return init


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %.

    The rule of the TensorFlow MobileNet reference code, which torchvision and timm follow,
    so that width-multiplied networks have the same channel counts as their weights.
    """
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


#: timm's global pooling types: '' (none: the map itself), average, max, their mean, and both
#: concatenated (twice the channels)
GLOBAL_POOLS: tuple[str, ...] = ("", "avg", "max", "avgmax", "catavgmax")


class AdaptiveAvgMaxPool2d(nn.Module):
    """The mean of adaptive average and max pooling, 0.5 * (avg + max): timm's ``"avgmax"``."""

    def __init__(self, output_size: int = 1) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (F.adaptive_avg_pool2d(x, self.output_size) + F.adaptive_max_pool2d(x, self.output_size))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveCatAvgMaxPool2d(AdaptiveAvgMaxPool2d):
    """Adaptive average and max pooling concatenated along the channels (2C out): timm's ``"catavgmax"``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_avg_pool2d(x, self.output_size), F.adaptive_max_pool2d(x, self.output_size)], 1)


def make_global_pool(pool_type: str, output_size: int = 1) -> nn.Module:
    """The pooling module of a head for one of :data:`GLOBAL_POOLS`, to ``output_size`` x ``output_size``.

    PyTorch's own modules where they exist (``nn.AdaptiveAvgPool2d`` for ``"avg"``, torchvision's
    pooling, so the default heads keep their module types), ``nn.Identity`` for ``""``. The value is
    one a network's ``global_pools`` admit (checked by ``reset_classifier`` and ``set_global_pool``).
    """
    return _POOL_MODULES[pool_type](output_size) if pool_type else nn.Identity()


_POOL_MODULES: dict[str, Callable[[int], nn.Module]] = {
    "avg": nn.AdaptiveAvgPool2d,
    "max": nn.AdaptiveMaxPool2d,
    "avgmax": AdaptiveAvgMaxPool2d,
    "catavgmax": AdaptiveCatAvgMaxPool2d,
}


def pool_feat_mult(pool_type: str) -> int:
    """How many times the map's channels a pooling type gives: 2 for ``"catavgmax"``, 1 otherwise."""
    return 2 if pool_type == "catavgmax" else 1


#: torchvision's ``norm_layer``: builds a normalisation layer from its number of channels
NormLayer = Callable[[int], nn.Module]


def make_norm(norm_layer: NormLayer, channels: int) -> nn.Module:
    """``norm_layer(channels)``, checked: torchvision's ``norm_layer`` argument of ResNet and MobileNet v2.

    ``nn.BatchNorm2d`` is the networks' own (Ioffe and Szegedy 2015); any callable taking the
    channel count and returning a module serves, e.g. ``lambda c: nn.GroupNorm(32, c)`` (Wu and
    He 2018) or ``nn.Identity`` (no normalisation). That it is a callable the networks'
    annotations say (``NormLayer``); what it returns only a call shows.
    """
    layer = norm_layer(channels)
    if not isinstance(layer, nn.Module):
        raise InvalidArgumentError(f"norm_layer({channels}) must return an nn.Module, got {type(layer).__name__}")
    return layer


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample (Huang et al. 2016).

    During training each sample's branch is zeroed with probability ``drop_prob`` and the
    survivors are scaled by ``1 / (1 - drop_prob)`` so the expectation is unchanged; at
    evaluation it is the identity.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        check_rate("drop_path_rate", drop_prob)
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 conv, ReLU, 1x1 conv, sigmoid, rescale.

    Hu et al. 2018, "Squeeze-and-Excitation Networks", Sec. 3 and Fig. 3. The two fully
    connected layers are 1x1 convolutions named ``fc1``/``fc2`` (with bias), the layout of
    the Caffe release and of timm, so their weights load by name.
    """

    def __init__(self, channels: int, reduction: int = 16, rd_channels: int | None = None) -> None:
        super().__init__()
        rd_channels = rd_channels or channels // reduction
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # squeeze: N x C x 1 x 1
        s = self.fc2(self.relu(self.fc1(s)))  # excitation
        return x * s.sigmoid()
