"""AlexNet (Krizhevsky, Sutskever and Hinton 2012), torchvision's form and the paper's.

"ImageNet Classification with Deep Convolutional Neural Networks", NIPS 2012, Sec. 3 and
Fig. 2: five convolutional layers, three fully connected ones, ReLU everywhere.

* ``alexnet``: the single-tower 64-192-384-256-256 network without LRN of "One weird trick
  for parallelizing convolutional neural networks" (Krizhevsky 2014, arXiv:1404.5997),
  which torchvision implements and publishes weights for; same module names, so those
  weights load by identity.
* ``alexnet_original``: the 2012 network as drawn in Fig. 2; 96-256-384-384-256 filters,
  the two-GPU split kept as grouped convolutions, local response normalisation and
  overlapping pooling, 227x227 input.

Both have an adaptive 6x6 average pool before the classifier (torchvision's), so they
also run on inputs smaller than the design size; at the design size it is the identity.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .base import ZooModel
from .layers import smallest_input_size, stack_feature_info
from .registry import register_model

__all__ = [
    "ConvSpec",
    "ClassicConvNet",
    "AlexNet",
    "krizhevsky_lrn",
    "ONE_WEIRD_TRICK",
    "PAPER_2012",
    "alexnet",
    "alexnet_original",
]


class ConvSpec(NamedTuple):
    """One convolutional layer of an AlexNet-style stack, and what follows its ReLU."""

    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    groups: int = 1
    lrn: bool = False  # local response normalisation after the ReLU
    pool: bool = False  # 3x3 stride-2 max pooling after that


#: torchvision's layout (Krizhevsky 2014, "One weird trick", Sec. 5): one tower, no LRN.
ONE_WEIRD_TRICK: tuple[ConvSpec, ...] = (
    ConvSpec(64, 11, 4, 2, pool=True),
    ConvSpec(192, 5, 1, 2, pool=True),
    ConvSpec(384, 3, 1, 1),
    ConvSpec(256, 3, 1, 1),
    ConvSpec(256, 3, 1, 1, pool=True),
)

#: The 2012 network (Sec. 3.5 and Fig. 2). Kernels of conv2, conv4 and conv5 connect only
#: to the maps on the same GPU (Sec. 3.2), hence groups=2; conv3 and the FC layers read
#: both GPUs. LRN follows conv1 and conv2, max pooling follows both LRNs and conv5.
PAPER_2012: tuple[ConvSpec, ...] = (
    ConvSpec(96, 11, 4, 0, lrn=True, pool=True),
    ConvSpec(256, 5, 1, 2, groups=2, lrn=True, pool=True),
    ConvSpec(384, 3, 1, 1),
    ConvSpec(384, 3, 1, 1, groups=2),
    ConvSpec(256, 3, 1, 1, groups=2, pool=True),
)


def krizhevsky_lrn(size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """Local response normalisation with the constants and the formula of Sec. 3.3.

    Krizhevsky et al. 2012, Sec. 3.3: b = a / (k + alpha * sum_j a_j^2)^beta over ``size``
    adjacent maps, with k=2, n=5, alpha=1e-4, beta=0.75. PyTorch's ``LocalResponseNorm``
    divides alpha by ``size`` (as Caffe and cuda-convnet do), so the paper's equation needs
    ``alpha * size`` there.
    """
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


class ClassicConvNet(ZooModel):
    """A convolutional stack (``features``) and AlexNet's head: ``avgpool``, fc6, fc7, fc8.

    The layout of AlexNet, ZFNet and VGG (Krizhevsky et al. 2012, Sec. 3.5; Zeiler and Fergus
    2013, Fig. 3; Simonyan and Zisserman 2014, Sec. 2.1): an adaptive average pool to a fixed
    map (torchvision's; the identity at the design size, and it lets the networks run on
    smaller inputs), then two fully connected layers of 4096 units with ReLU and dropout
    (``drop_rate``) and the class layer. The layers are ``classifier.0`` ... ``classifier.6``,
    torchvision's state-dict names; fc8 is ``classifier.6``. ``pre_logits`` gives fc7's
    4096 features (after its dropout). ``global_pool`` chooses how the grid is pooled
    (``"avg"``, ``"max"`` or ``"avgmax"``: fc6 reads the same C x k x k either way), or ``""``
    with no classifier: the network then ends at the conv stack's map (fc6 and fc7 read only
    the pooled grid; they stay, for a later ``reset_classifier``).
    """

    global_pools = ("", "avg", "max", "avgmax")
    global_pool_note = "fc6 reads the pooled C x k x k grid flattened, so 'catavgmax' would change its width"

    def build_head(self, channels: int, pool: int, dropout_first: bool = False) -> None:
        """``avgpool`` to ``pool`` x ``pool``, then fc6 and fc7 (4096), then fc8.

        ``dropout_first`` puts each dropout before its layer (torchvision's AlexNet order);
        otherwise it follows the ReLU, as in Krizhevsky et al. 2012, Sec. 4.2 ("we use
        dropout in the first two fully-connected layers").
        """
        self.num_features = channels
        self.pool_output_size = pool
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        fc6, fc7 = nn.Linear(channels * pool * pool, 4096), nn.Linear(4096, 4096)
        p = self.drop_rate
        if dropout_first:
            hidden = [nn.Dropout(p), fc6, nn.ReLU(inplace=True), nn.Dropout(p), fc7, nn.ReLU(inplace=True)]
        else:
            hidden = [fc6, nn.ReLU(inplace=True), nn.Dropout(p), fc7, nn.ReLU(inplace=True), nn.Dropout(p)]
        self.classifier = nn.Sequential(*hidden)
        self.classifier.append(self.new_classifier("classifier.6", 4096))

    def drop_head_layers(self) -> None:
        """fc6 and fc7 go with fc8 (prune_intermediate_layers); the positions stay, as identities."""
        for i, layer in enumerate(self.classifier):
            if isinstance(layer, nn.Linear):
                self.classifier[i] = nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, fc6 and fc7 (``head_hidden_size`` = 4096 pre-logits), then fc8 unless ``pre_logits``."""
        x = self.forward_pool(x)
        if self.global_pool == "":  # no pooling: the conv stack's map, which fc6 cannot read
            return x
        # the layers themselves, not a slice of the Sequential: a slice is a new module that
        # torch.fx cannot trace (and no unpacking, which TorchScript cannot compile)
        for i, layer in enumerate(self.classifier):
            if i < 6 or not pre_logits:  # classifier.6 is fc8
                x = layer(x)
        return x


class AlexNet(ClassicConvNet):
    """Five conv layers (ReLU, optional LRN and max pooling), adaptive 6x6 pool, three FC layers.

    Krizhevsky et al. 2012, Sec. 3 and Fig. 2; ``convs`` is the conv stack as data
    (:data:`ONE_WEIRD_TRICK` or :data:`PAPER_2012`). ``drop_rate`` (0.5, Sec. 4.2) is the
    dropout of fc6 and fc7; ``dropout_first`` puts it before them (torchvision's order).
    ``min_input_size`` is the smallest input whose conv stack still gives a 1x1 map (63x63
    for :data:`ONE_WEIRD_TRICK`, 67x67 for :data:`PAPER_2012`); smaller ones raise
    :class:`~cnnzoo.errors.InputSizeError`.
    """

    def __init__(
        self,
        convs: tuple[ConvSpec, ...] = ONE_WEIRD_TRICK,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        dropout_first: bool = True,
        arch_name: str = "AlexNet",
    ) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        layers: list[nn.Module] = []
        channels = in_chans
        for spec in convs:
            layers += [
                nn.Conv2d(channels, spec.out_channels, spec.kernel_size, spec.stride, spec.padding, groups=spec.groups),
                nn.ReLU(inplace=True),
            ]
            if spec.lrn:
                layers.append(krizhevsky_lrn())
            if spec.pool:
                # overlapping pooling, z=3 s=2 (Sec. 3.4)
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            channels = spec.out_channels
        self.features = nn.Sequential(*layers)  # N x 256 x 6 x 6 at 224x224
        self.min_input_size = (in_chans, *smallest_input_size(self.features))
        # stage outputs: the last layer before each pooling, then pool5 (conv1 at stride 4,
        # conv2 at 8, conv5 at 16, pool5 at 32); each layer of a spec has its conv's width
        widths = [spec.out_channels for spec in convs for _ in range(2 + spec.lrn + spec.pool)]
        self.set_feature_info(stack_feature_info(self.features, widths))
        self.build_head(channels, 6, dropout_first)


_PAPER: dict[str, Any] = dict(
    family="alexnet",
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    authors="A. Krizhevsky, I. Sutskever, G. E. Hinton",
    year=2012,
    num_classes=1000,
    url="https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html",
)


@register_model(
    **_PAPER,
    input_size=(3, 224, 224),
    notes="torchvision's layout, from 'One weird trick for parallelizing convolutional "
    "neural networks' (Krizhevsky 2014, arXiv:1404.5997): 64-192-384-256-256, no LRN",
)
def alexnet(**kwargs: Any) -> AlexNet:
    """AlexNet as in torchvision (one tower, 64-192-384-256-256, no LRN); 61,100,840 parameters.

    Krizhevsky 2014, "One weird trick for parallelizing convolutional neural networks";
    torchvision's module names, so its ImageNet weights load without a key map. Keyword
    arguments (``drop_rate``) are :class:`AlexNet`'s.
    """
    return AlexNet(ONE_WEIRD_TRICK, arch_name="alexnet", **kwargs)


@register_model(
    **_PAPER,
    input_size=(3, 227, 227),
    notes="the 2012 two-GPU network: 96-256-384-384-256, groups=2 on conv2/4/5, LRN, "
    "227x227 input (the paper's '224' does not give its 55x55 conv1 maps)",
)
def alexnet_original(**kwargs: Any) -> AlexNet:
    """AlexNet as in the 2012 paper (Fig. 2): grouped convolutions, LRN; 60,965,224 parameters.

    Krizhevsky et al. 2012, Sec. 3 and Fig. 2. Weight initialisation is PyTorch's default,
    not the paper's N(0, 0.01) with unit biases (Sec. 5).
    """
    kwargs.setdefault("dropout_first", False)
    return AlexNet(PAPER_2012, arch_name="alexnet_original", **kwargs)
