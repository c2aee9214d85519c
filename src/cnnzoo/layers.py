"""Blocks shared by more than one family: stochastic depth and squeeze-and-excitation.

Family-specific blocks (``BasicBlock``, ``Inception``, ``DenseLayer`` ...) live in their
family's file, next to the network that uses them.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import InvalidArgumentError

__all__ = ["DropPath", "SqueezeExcitation", "make_divisible", "check_model_args"]


def check_model_args(num_classes: int, in_chans: int) -> None:
    """Reject the arguments every constructor shares when they make no network."""
    for arg, value, low in (("num_classes", num_classes, 0), ("in_chans", in_chans, 1)):
        # num_classes=0 is allowed, as in timm: the network then ends at its pooled features
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(
                f"{arg} must be an integer >= {low}, got {value!r}")


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


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample (Huang et al. 2016).

    During training each sample's branch is zeroed with probability ``drop_prob`` and the
    survivors are scaled by ``1 / (1 - drop_prob)`` so the expectation is unchanged; at
    evaluation it is the identity.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise InvalidArgumentError(f"drop_path_rate must be in [0, 1), got {drop_prob}")
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
