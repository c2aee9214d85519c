"""ZFNet (Zeiler and Fergus 2013): AlexNet with smaller, denser first layers.

"Visualizing and Understanding Convolutional Networks" (arXiv:1311.2901, ECCV 2014). We
follow Fig. 3, "Architecture of our 8 layer convnet model": a 224x224 input; layer 1 96
filters 7x7 stride 2 (110x110), then 3x3 max pooling with stride 2 and contrast
normalisation (55x55); layer 2 256 filters 5x5 stride 2 (26x26), pooling and normalisation
again (13x13); layers 3-5 384, 384, 256 filters 3x3 stride 1, on one tower (no grouping);
pooling to 6x6; two fully connected layers of 4096 units and a C-way classifier.
``zfnet_wide`` is the paper's bigger model (b) of Table 3, with 512, 1024 and 512 maps in
layers 3-5 (the version lecture slides show, e.g. Stanford's CS231n).
The smaller stride-2 first layer is the paper's fix for the aliasing and dead filters it
saw in Krizhevsky et al.'s 11x11 stride-4 layer 1 (Sec. 5.1).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .alexnet import ClassicConvNet, krizhevsky_lrn
from .arguments import Count
from .layers import smallest_input_size, stack_feature_info
from .registry import register_model

__all__ = ["ZFNet", "zfnet", "zfnet_wide"]


class ZFNet(ClassicConvNet):
    """conv 96@7x7/2, pool, LRN, conv 256@5x5/2, pool, LRN, conv 384, 384, 256 @3x3, pool, FC x3.

    Zeiler and Fergus 2013, Fig. 3. Each pooling is 3x3 with stride 2 in ceil mode
    (Caffe's rounding, which gives the figure's 55x55 and 13x13 maps); the order ReLU,
    pool, normalise is the caption's "(i) ... (ii) pooled ... (iii) contrast normalized".
    The paper gives no normalisation constants and builds on Krizhevsky et al.'s model,
    so it uses AlexNet's (:func:`~cnnzoo.models.alexnet.krizhevsky_lrn`). Dropout 0.5 on
    fc6 and fc7 (Sec. 3, ``drop_rate``). An adaptive 6x6 average pool before fc6 (the
    identity at 224x224) lets the network run on smaller inputs, as cnnzoo's AlexNet does,
    down to ``min_input_size`` (47x47, where layer 5's pooling gives 1x1). ``widths`` are the
    maps of layers 3, 4 and 5: (384, 384, 256) in Fig. 3, (512, 1024, 512) in Table 3's (b).
    """

    def __init__(
        self,
        *,
        widths: tuple[Count, Count, Count] = (384, 384, 256),
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        arch_name: str = "zfnet",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        c3, c4, c5 = widths

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 96, kernel_size=7, stride=2, padding=1),  # N x 96 x 110 x 110
            nn.ReLU(inplace=True),
            pool(),
            krizhevsky_lrn(),  # N x 96 x 55 x 55
            nn.Conv2d(96, 256, kernel_size=5, stride=2),  # N x 256 x 26 x 26
            nn.ReLU(inplace=True),
            pool(),
            krizhevsky_lrn(),  # N x 256 x 13 x 13
            nn.Conv2d(256, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            pool(),  # N x 256 x 6 x 6
        )
        self.min_input_size = (in_chans, *smallest_input_size(self.features))
        # stage outputs: layer 1 (stride 2), its pooled map (4), layer 2 (8), layer 5 (16), pool (32)
        self.set_feature_info(stack_feature_info(self.features, [96] * 4 + [256] * 4 + [c3] * 2 + [c4] * 2 + [c5] * 3))
        self.build_head(c5, 6)


_PAPER: dict[str, Any] = dict(
    family="zfnet",
    paper="Visualizing and Understanding Convolutional Networks",
    authors="M. D. Zeiler, R. Fergus",
    year=2013,
    url="https://arxiv.org/abs/1311.2901",
    input_size=(3, 224, 224),
    num_classes=1000,
)


@register_model(**_PAPER, notes="Fig. 3 of the paper; LRN constants from AlexNet (the paper gives none)")
def zfnet(**kwargs: Any) -> ZFNet:
    """ZFNet, the 8-layer model of Zeiler and Fergus 2013, Fig. 3 (62,357,608 parameters).

    Weight initialisation is PyTorch's default, not the paper's 1e-2 weights and zero
    biases (Sec. 3), nor its renormalisation of large first-layer filters. Keyword
    arguments (``drop_rate``) are :class:`ZFNet`'s.
    """
    return ZFNet(**kwargs)


@register_model(**_PAPER, notes="Table 3, model (b): layers 3-5 with 512, 1024, 512 maps")
def zfnet_wide(**kwargs: Any) -> ZFNet:
    """ZFNet with 512, 1024 and 512 maps in layers 3-5: Zeiler and Fergus 2013, Table 3 (b).

    The row "1 convnet as per Fig. 3 but with layers 3,4,5: 512,1024,512 maps", which the
    paper found more accurate than Fig. 3's model; 107,627,624 parameters (fc6 reads
    512 x 6 x 6 maps). Keyword arguments are :class:`ZFNet`'s.
    """
    return ZFNet(widths=(512, 1024, 512), arch_name="zfnet_wide", **kwargs)
