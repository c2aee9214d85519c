"""GoogLeNet, Inception v1 (Szegedy et al. 2014), with its two auxiliary classifiers.

"Going Deeper with Convolutions" (arXiv:1409.4842, CVPR 2015), Sec. 4-5 and Table 1. The
module names, the batch normalisation and the 3x3 kernel in the "5x5" branch are
torchvision's, whose ImageNet weights (ported from TensorFlow) load by identity; the
paper's network has no BN, a real 5x5 convolution there, and LRN in the stem (Fig. 3).
In training mode the network returns :class:`GoogLeNetOutputs` (main and both auxiliary
logits), which :func:`googlenet_loss` combines as in Sec. 5; in eval mode it returns the
main logits only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .base import ZooModel, output_loss
from .layers import check_input_size, check_rate, has_storage, smallest_input_size
from .registry import register_model

torch.fx.wrap("check_input_size")  # a leaf for torch.fx here too (see layers.check_input_size)

__all__ = ["GoogLeNetOutputs", "googlenet_loss", "BasicConv2d", "Inception", "InceptionAux",
           "GoogLeNet", "INCEPTION_CONFIGS", "googlenet"]

#: Table 1 (in_channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per module.
INCEPTION_CONFIGS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNetOutputs(NamedTuple):
    """What GoogLeNet returns in training mode: main logits, then the auxiliary heads' logits.

    ``aux1`` is the head on inception (4a), ``aux2`` the head on (4d) (Szegedy et al. 2014,
    Sec. 5). Unlike torchvision's namedtuple (logits, aux_logits2, aux_logits1) the heads
    come in network order.
    """

    logits: torch.Tensor
    aux1: torch.Tensor | None
    aux2: torch.Tensor | None

    @property
    def aux_logits(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The auxiliary logits, for the output protocol of :func:`~cnnzoo.models.base.output_loss`."""
        return (self.aux1, self.aux2)


def googlenet_loss(output: GoogLeNetOutputs | torch.Tensor, target: torch.Tensor,
                   criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                   aux_weight: float = 0.3) -> torch.Tensor:
    """The training loss of GoogLeNet: main loss plus ``aux_weight`` times each auxiliary loss.

    Szegedy et al. 2014, Sec. 5: "During training, their loss gets added to the total loss
    of the network with a discount weight (the losses of the auxiliary classifiers were
    weighted by 0.3)". For a plain Tensor (eval mode, or ``aux_logits=False``) it is
    ``criterion(output, target)``. ``criterion`` defaults to cross-entropy. The same rule
    as every model's training loss (:func:`~cnnzoo.models.base.output_loss`).
    """
    return output_loss(output, target, criterion, aux_weight)


class BasicConv2d(nn.Module):
    """Convolution without bias, batch normalisation (eps 1e-3), ReLU; torchvision's unit.

    The paper's convolutions have biases and no BN (BN came in 2015); torchvision's port of
    the TensorFlow weights has BN, and we keep it so that those weights load.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches, concatenated: 1x1 | 1x1, 3x3 | 1x1, "5x5" | 3x3 max pool, 1x1.

    Szegedy et al. 2014, Sec. 4 and Fig. 2(b): the 1x1 convolutions reduce the channels
    before the expensive 3x3 and 5x5 ones and project the pooled branch.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        # 3x3, not the paper's 5x5: torchvision's port of the TensorFlow model has this
        # deviation and its weights need it (https://github.com/pytorch/vision/issues/906)
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv 128, FC 1024, ReLU, dropout 0.7, FC.

    Szegedy et al. 2014, Sec. 5. The paper pools 5x5 with stride 3 (4x4 maps at 224x224);
    torchvision pools adaptively to 4x4, which is the same there and works at any size.
    ``fc2`` is the class layer (made by the network, which owns its classifiers).
    """

    def __init__(self, in_channels: int, fc2: nn.Module, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = fc2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(x, (4, 4))  # N x 512|528 x 4 x 4
        x = torch.flatten(self.conv(x), 1)  # N x 2048
        x = self.dropout(self.relu(self.fc1(x)))  # N x 1024
        return self.fc2(x)


class GoogLeNet(ZooModel):
    """Stem (7x7/2 conv, pool, 1x1, 3x3, pool), nine Inception modules, global pool, dropout, FC.

    Szegedy et al. 2014, Table 1 and Fig. 3, with the auxiliary classifiers on (4a) and (4d)
    (Sec. 5) unless ``aux_logits=False``. Pooling rounds up (``ceil_mode``) as in the Caffe
    and TensorFlow models. ``drop_rate`` is the dropout before the classifier (0.2,
    torchvision's; the paper's 0.4), ``aux_drop_rate`` the auxiliary heads' (0.7, Sec. 5).
    ``transform_input=True`` maps inputs normalised with the ImageNet mean/std to the
    [-1, 1] range that torchvision's ported weights expect.
    """

    def __init__(self, *, num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = True,
                 transform_input: bool = False, drop_rate: float = 0.2, aux_drop_rate: float = 0.7,
                 arch_name: str = "googlenet") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        check_rate("aux_drop_rate", aux_drop_rate)
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        self.conv1 = BasicConv2d(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(*INCEPTION_CONFIGS["inception3a"])
        self.inception3b = Inception(*INCEPTION_CONFIGS["inception3b"])
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(*INCEPTION_CONFIGS["inception4a"])
        self.inception4b = Inception(*INCEPTION_CONFIGS["inception4b"])
        self.inception4c = Inception(*INCEPTION_CONFIGS["inception4c"])
        self.inception4d = Inception(*INCEPTION_CONFIGS["inception4d"])
        self.inception4e = Inception(*INCEPTION_CONFIGS["inception4e"])
        # the paper has 3x3/2 here (Table 1); torchvision's 2x2/2 gives the same 7x7 at 224
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(*INCEPTION_CONFIGS["inception5a"])
        self.inception5b = Inception(*INCEPTION_CONFIGS["inception5b"])
        self.num_features = 1024
        # the smallest input the stem and the four max pools take down to 1x1 (15x15); the
        # Inception branches keep the map size, so the modules in order are the chain
        self.min_input_size = (in_chans, *smallest_input_size(self.modules()))
        # torchvision's initialisation (init_weights=True), so that a fresh model is the same
        # distribution as torchvision's
        for m in self.modules() if has_storage(self) else ():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # the classifiers: the main one first, then the auxiliary heads (reset together);
        # registered in torchvision's order (aux1, aux2, ..., fc), as its state dicts are
        fc = self.new_classifier("fc", self.num_features)
        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1 = InceptionAux(512, self.new_classifier("aux1.fc2", 1024), dropout=aux_drop_rate)
            self.aux2 = InceptionAux(528, self.new_classifier("aux2.fc2", 1024), dropout=aux_drop_rate)
            for aux in (self.aux1, self.aux2) if has_storage(self) else ():
                for m in aux.modules():
                    if isinstance(m, (nn.Conv2d, nn.Linear)):
                        nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                    elif isinstance(m, nn.BatchNorm2d):
                        nn.init.ones_(m.weight)
                        nn.init.zeros_(m.bias)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=drop_rate)
        self.fc = fc

    def init_classifier(self, layer: nn.Linear) -> None:
        """Truncated N(0, 0.01) weights, as torchvision initialises every conv and linear layer."""
        nn.init.trunc_normal_(layer.weight, mean=0.0, std=0.01, a=-2, b=2)

    @property
    def transform_input(self) -> bool:
        """Whether ``forward`` first maps ImageNet-normalised input to [-1, 1] (3 channels only)."""
        return self._transform_input

    @transform_input.setter
    def transform_input(self, value: bool) -> None:
        if value and self.in_chans != 3:
            raise InvalidArgumentError(
                f"transform_input maps the 3 ImageNet RGB channels; this model has in_chans={self.in_chans}")
        self._transform_input = bool(value)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        # x_c * std_c / 0.5 + (mean_c - 0.5) / 0.5: undo ImageNet normalisation, redo it as
        # (x - 0.5) / 0.5; the same arithmetic as torchvision's, channel by channel
        return torch.cat([x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                          x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                          x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5], 1)

    def _forward_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The trunk: (inception 5b output, inception 4a output, inception 4d output)."""
        check_input_size(x, self.arch_name, self.min_input_size)
        if self.transform_input:
            x = self._transform(x)
        x = self.maxpool1(self.conv1(x))  # N x 64 x 56 x 56
        x = self.maxpool2(self.conv3(self.conv2(x)))  # N x 192 x 28 x 28
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # N x 480 x 14 x 14
        tap1 = self.inception4a(x)  # N x 512 x 14 x 14
        tap2 = self.inception4d(self.inception4c(self.inception4b(tap1)))  # N x 528 x 14 x 14
        x = self.maxpool4(self.inception4e(tap2))  # N x 832 x 7 x 7
        x = self.inception5b(self.inception5a(x))  # N x 1024 x 7 x 7
        return x, tap1, tap2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and Inception modules: N x C x 224 x 224 -> N x 1024 x 7 x 7."""
        return self._forward_taps(x)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pool, dropout, then the classifier unless ``pre_logits``."""
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> GoogLeNetOutputs | torch.Tensor:
        """Main logits in eval mode; :class:`GoogLeNetOutputs` in training mode with aux heads."""
        features, tap1, tap2 = self._forward_taps(x)
        logits = self.forward_head(features)
        if self.training and self.aux1 is not None and self.aux2 is not None:
            return GoogLeNetOutputs(logits, self.aux1(tap1), self.aux2(tap2))
        return logits


@register_model(family="googlenet", paper="Going Deeper with Convolutions",
                authors="C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, "
                        "V. Vanhoucke, A. Rabinovich",
                year=2014, url="https://arxiv.org/abs/1409.4842", input_size=(3, 224, 224), num_classes=1000,
                notes="torchvision's port: BN in every conv unit and 3x3 kernels in the '5x5' "
                      "branch (pytorch/vision#906); torchvision's weights need transform_input=True")
def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet (Inception v1) with both auxiliary classifiers; Szegedy et al. 2014, Table 1.

    13,004,888 parameters with the auxiliary heads, 6,624,904 with ``aux_logits=False``.
    Keyword arguments (``aux_logits``, ``transform_input``, ``drop_rate``, ``aux_drop_rate``)
    are :class:`GoogLeNet`'s.
    """
    return GoogLeNet(**kwargs)
