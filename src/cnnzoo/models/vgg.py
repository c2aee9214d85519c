"""VGG (Simonyan and Zisserman 2014): stacks of 3x3 convolutions, configurations A, B, D, E.

"Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, Sec. 2 and
Table 1. The columns of Table 1 are data below; ``_bn`` adds batch normalisation after
every convolution (not in the paper, which predates it: torchvision's variant, whose
weights these load). Module names are torchvision's (``features.N``, ``avgpool``,
``classifier.0/3/6``), so its ImageNet weights load by identity.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import InvalidArgumentError
from .alexnet import ClassicConvNet
from .layers import has_storage, smallest_input_size
from .registry import register_model

__all__ = ["VGG", "CONFIGS", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
           "vgg16_bn", "vgg19_bn"]

#: Table 1: conv3 widths, "M" = 2x2 max pooling with stride 2. A = VGG-11, B = 13, D = 16,
#: E = 19 (configuration C, with 1x1 convolutions, has no published weights).
CONFIGS: dict[str, tuple[int | str, ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"),
}


class VGG(ClassicConvNet):
    """conv3 stacks (padding 1, ReLU, optional BN) with max pooling, adaptive 7x7 pool, FC-4096 x2, FC.

    Simonyan and Zisserman 2014, Sec. 2.1 and Table 1. The adaptive pool (torchvision's) is
    the identity at 224x224 and lets the network run on inputs down to ``min_input_size``
    (32x32 for Table 1's five poolings). ``drop_rate`` is the dropout of fc6 and fc7 (0.5,
    Sec. 3.1).
    """

    def __init__(self, config: tuple[int | str, ...], *, batch_norm: bool = False,
                 num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5,
                 arch_name: str = "VGG") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        layers: list[nn.Module] = []
        channels = in_chans
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgumentError(f"a VGG configuration holds widths and 'M', got {v!r}")
            layers.append(nn.Conv2d(channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            channels = v
        self.features = nn.Sequential(*layers)  # N x 512 x 7 x 7 at 224x224
        self.min_input_size = (in_chans, *smallest_input_size(self.features))
        # torchvision's initialisation (the paper initialised D and E from a trained A, Sec. 3.1)
        for m in self.features.modules() if has_storage(self) else ():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.build_head(channels, 7)
        for m in self.classifier.modules() if has_storage(self) else ():
            if isinstance(m, nn.Linear):
                self.init_classifier(m)

    def init_classifier(self, layer: nn.Linear) -> None:
        """N(0, 0.01) weights and zero biases, torchvision's for every fully connected layer."""
        nn.init.normal_(layer.weight, 0, 0.01)
        nn.init.zeros_(layer.bias)


_META: dict[str, Any] = dict(family="vgg", paper="Very Deep Convolutional Networks for Large-Scale Image Recognition",
             authors="K. Simonyan, A. Zisserman", year=2014, url="https://arxiv.org/abs/1409.1556",
             input_size=(3, 224, 224), num_classes=1000)
_BN_NOTE = "batch normalisation after every conv (torchvision's variant; not in the paper)"


def _vgg(name: str, config: str, batch_norm: bool, **kwargs: Any) -> VGG:
    # keyword arguments (drop_rate) go to VGG, which rejects unknown ones
    return VGG(CONFIGS[config], batch_norm=batch_norm, arch_name=name, **kwargs)


@register_model(**_META)
def vgg11(**kwargs: Any) -> VGG:
    """VGG-11, configuration A of Table 1 (8 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg11", "A", False, **kwargs)


@register_model(**_META)
def vgg13(**kwargs: Any) -> VGG:
    """VGG-13, configuration B of Table 1 (10 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg13", "B", False, **kwargs)


@register_model(**_META)
def vgg16(**kwargs: Any) -> VGG:
    """VGG-16, configuration D of Table 1 (13 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg16", "D", False, **kwargs)


@register_model(**_META)
def vgg19(**kwargs: Any) -> VGG:
    """VGG-19, configuration E of Table 1 (16 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg19", "E", False, **kwargs)


@register_model(**_META, notes=_BN_NOTE)
def vgg11_bn(**kwargs: Any) -> VGG:
    """VGG-11 (configuration A) with batch normalisation after each conv, as torchvision's."""
    return _vgg("vgg11_bn", "A", True, **kwargs)


@register_model(**_META, notes=_BN_NOTE)
def vgg13_bn(**kwargs: Any) -> VGG:
    """VGG-13 (configuration B) with batch normalisation after each conv, as torchvision's."""
    return _vgg("vgg13_bn", "B", True, **kwargs)


@register_model(**_META, notes=_BN_NOTE)
def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 (configuration D) with batch normalisation after each conv, as torchvision's."""
    return _vgg("vgg16_bn", "D", True, **kwargs)


@register_model(**_META, notes=_BN_NOTE)
def vgg19_bn(**kwargs: Any) -> VGG:
    """VGG-19 (configuration E) with batch normalisation after each conv, as torchvision's."""
    return _vgg("vgg19_bn", "E", True, **kwargs)
