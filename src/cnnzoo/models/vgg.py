"""VGG (Simonyan and Zisserman 2014): stacks of 3x3 convolutions, configurations A to E.

"Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, Sec. 2 and
Table 1. The six columns of Table 1 are data below: A (``vgg11``), A-LRN (``vgg11_lrn``),
B (``vgg13``), C (``vgg16_c``), D (``vgg16``) and E (``vgg19``); ``_bn`` adds batch
normalisation after every convolution (not in the paper, which predates it: torchvision's
variant, whose weights these load). Module names are torchvision's (``features.N``,
``avgpool``, ``classifier.0/3/6``), so its ImageNet weights load by identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, cast

from torch import nn

from ..errors import InvalidArgumentError, shown
from .alexnet import ClassicConvNet, krizhevsky_lrn
from .arguments import fits
from .layers import he_normal, init_weights, normal_init, smallest_input_size, stack_feature_info
from .registry import register_model

__all__ = [
    "VGG",
    "CONFIGS",
    "vgg11",
    "vgg11_lrn",
    "vgg13",
    "vgg16_c",
    "vgg16",
    "vgg19",
    "vgg11_bn",
    "vgg13_bn",
    "vgg16_bn",
    "vgg19_bn",
]

#: Table 1, column by column: an int is a 3x3 convolution ("conv3-64"), ``(width, 1)`` a 1x1
#: one ("conv1-256", column C only), "M" 2x2 max pooling with stride 2 and "LRN" local
#: response normalisation (column A-LRN). A = VGG-11, B = 13, C and D = 16, E = 19.
CONFIGS: dict[str, tuple[int | str | tuple[int, int], ...]] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "A-LRN": (64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "C": (64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def _check_entry(name: str, v: object) -> None:
    # a convolution is a width (3x3) or (width, kernel); padding k // 2 keeps the map's size for odd k only
    conv = v if isinstance(v, (tuple, list)) else (v, 3)
    if v not in ("M", "LRN") and not (fits(conv, tuple[int, int]) and min(conv) >= 1 and conv[1] % 2 == 1):
        raise InvalidArgumentError(
            f"{name}: a VGG configuration holds widths, (width, odd kernel), 'M' and 'LRN'; got {shown(v)}"
        )


#: an entry of a column of Table 1 (see CONFIGS), checked when a network is built
Entry = Annotated[int | str | tuple[int, int], _check_entry]


class VGG(ClassicConvNet):
    """conv3 stacks (padding 1, ReLU, optional BN) with max pooling, adaptive 7x7 pool, FC-4096 x2, FC.

    Simonyan and Zisserman 2014, Sec. 2.1 and Table 1. The adaptive pool (torchvision's) is
    the identity at 224x224 and lets the network run on inputs down to ``min_input_size``
    (32x32 for Table 1's five poolings). ``drop_rate`` is the dropout of fc6 and fc7 (0.5,
    Sec. 3.1).
    """

    def __init__(
        self,
        config: Sequence[Entry],
        *,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        arch_name: str = "VGG",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        layers: list[nn.Module] = []
        widths: list[int] = []  # each layer's output channels (one entry per layer appended)
        channels = in_chans
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            elif v == "LRN":
                # A-LRN: "where applicable, the parameters for the LRN layer are those of
                # (Krizhevsky et al., 2012)" (Sec. 2.3)
                layers.append(krizhevsky_lrn())
            else:
                width, kernel = cast(tuple[int, int], v if isinstance(v, (tuple, list)) else (v, 3))  # _check_entry
                # "padding is 1 pixel for 3x3 conv. layers" (Sec. 2.1); a 1x1 needs none
                layers.append(nn.Conv2d(channels, width, kernel_size=kernel, padding=kernel // 2))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                    widths.append(width)
                layers.append(nn.ReLU(inplace=True))
                widths.append(width)
                channels = width
            widths.append(channels)
        self.features = nn.Sequential(*layers)  # N x 512 x 7 x 7 at 224x224
        self.min_input_size = (in_chans, *smallest_input_size(self.features))
        # stage outputs: the last layer before each pooling (strides 1 to 16), then pool5 (32)
        self.set_feature_info(stack_feature_info(self.features, widths))
        self.build_head(channels, 7)
        # torchvision's initialisation (the paper initialised D and E from a trained A, Sec. 3.1)
        init_weights(self, he_normal("fan_out"), _FC_INIT)

    def init_classifier(self, layer: nn.Linear) -> None:
        """N(0, 0.01) weights and zero biases, torchvision's for every fully connected layer."""
        init_weights(layer, linear=_FC_INIT)


_FC_INIT = normal_init(0.01)


_META: dict[str, Any] = dict(
    family="vgg",
    paper="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    authors="K. Simonyan, A. Zisserman",
    year=2014,
    url="https://arxiv.org/abs/1409.1556",
    input_size=(3, 224, 224),
    num_classes=1000,
)
_BN_NOTE = "batch normalisation after every conv (torchvision's variant; not in the paper)"


def _vgg(name: str, config: str, batch_norm: bool, **kwargs: Any) -> VGG:
    # keyword arguments (drop_rate) go to VGG, which rejects unknown ones
    return VGG(CONFIGS[config], batch_norm=batch_norm, arch_name=name, **kwargs)


@register_model(**_META)
def vgg11(**kwargs: Any) -> VGG:
    """VGG-11, configuration A of Table 1 (8 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg11", "A", False, **kwargs)


@register_model(**_META, notes="Table 1 column A-LRN: A with LRN after the first layer")
def vgg11_lrn(**kwargs: Any) -> VGG:
    """VGG-11 with local response normalisation, configuration A-LRN of Table 1.

    A with an LRN layer after conv3-64 (Sec. 2.3, constants of Krizhevsky et al. 2012); the
    paper found that it "does not improve on the performance of model A" (Sec. 4.1,
    Table 3). 133M parameters (Table 2), as A: LRN has none.
    """
    return _vgg("vgg11_lrn", "A-LRN", False, **kwargs)


@register_model(**_META)
def vgg13(**kwargs: Any) -> VGG:
    """VGG-13, configuration B of Table 1 (10 conv + 3 FC layers); Simonyan and Zisserman 2014."""
    return _vgg("vgg13", "B", False, **kwargs)


@register_model(**_META, notes="Table 1 column C: B with a 1x1 convolution ending blocks 3-5")
def vgg16_c(**kwargs: Any) -> VGG:
    """VGG-16 of configuration C (Table 1): 16 weight layers, three of them 1x1 convolutions.

    B with a conv1-256 and two conv1-512 ending blocks 3, 4 and 5 ("the incorporation of
    1x1 conv. layers is a way to increase the non-linearity of the decision function without
    affecting the receptive fields", Sec. 2.2); D has 3x3 layers there instead and is more
    accurate (Sec. 4.1, Table 3). 134M parameters (Table 2).
    """
    return _vgg("vgg16_c", "C", False, **kwargs)


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
