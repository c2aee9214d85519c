"""GoogLeNet, Inception v1 (Szegedy et al. 2014), with its two auxiliary classifiers.

"Going Deeper with Convolutions" (arXiv:1409.4842, CVPR 2015), Sec. 4-5 and Table 1. Two
variants share one network class:

* ``"torchvision"`` (default): torchvision's module names, batch normalisation and 3x3
  kernel in the "5x5" branch, so its ImageNet weights (ported from TensorFlow) load by
  identity;
* ``"paper"``: the network of the paper, with no batch normalisation (convolutions with
  biases), a real 5x5 convolution in that branch, local response normalisation in the stem
  (Fig. 3), a 3x3/2 max pool before inception (5a), dropout 0.4 before the classifier
  (Table 1) and 0.7 in the auxiliary heads (Sec. 5). Its inception modules have Table 1's
  filter counts; their multiply-adds agree with Table 1's "ops" column to its rounding for
  eight of the nine modules, all but (5a) (51M, Table 1 54M). The "params" column (K = 1,024
  weights) is not that of the table's own filter counts: it agrees within 1K for (3a), (3b)
  and (4b) only; (4a) has 366.75K (Table 1 364K), (4e) 847K (840K), (4c) 497.5K (463K),
  (4d) 590.5K (580K), (5a) 1,018K (1,072K), (5b) 1,409K (1,388K).

In training mode the network returns :class:`GoogLeNetOutputs` (main and both auxiliary
logits), which :func:`googlenet_loss` combines as in Sec. 5; in eval mode it returns the
main logits only.

No ``from __future__ import annotations`` here: TorchScript reads the field types of
:class:`GoogLeNetOutputs` and the annotations of ``forward`` at run time.
"""

from typing import Any, Literal, NamedTuple, get_args

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .arguments import Rate
from .base import ZooModel, googlenet_loss
from .layers import check_input_size, init_weights, smallest_input_size
from .registry import register_model

torch.fx.wrap("check_input_size")  # a leaf for torch.fx here too (see layers.check_input_size)

__all__ = [
    "GoogLeNetOutputs",
    "googlenet_loss",
    "BasicConv2d",
    "Inception",
    "InceptionAux",
    "GoogLeNet",
    "INCEPTION_CONFIGS",
    "VARIANTS",
    "googlenet",
]

#: torchvision's layout (BN, 3x3 in the "5x5" branch) or the paper's (see GoogLeNet)
Variant = Literal["torchvision", "paper"]
VARIANTS = get_args(Variant)

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
        """The auxiliary logits, for the output protocol of :func:`~cnnzoo.models.base.googlenet_loss`."""
        return (self.aux1, self.aux2)


class BasicConv2d(nn.Module):
    """Convolution, batch normalisation (eps 1e-3), ReLU; or convolution (with bias) and ReLU.

    ``batch_norm=True`` is torchvision's unit, whose port of the TensorFlow weights has BN.
    The paper's convolutions have biases and no BN (BN came in 2015): ``batch_norm=False``.
    """

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not batch_norm, **kwargs)
        self.bn: nn.Module = nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches, concatenated: 1x1 | 1x1, 3x3 | 1x1, 5x5 | 3x3 max pool, 1x1.

    Szegedy et al. 2014, Sec. 4 and Fig. 2(b): the 1x1 convolutions reduce the channels
    before the expensive 3x3 and 5x5 ones and project the pooled branch. ``kernel_5x5`` is
    the kernel of the "5x5" branch: 5 in the paper, 3 in torchvision's port of the
    TensorFlow model, whose weights need it (https://github.com/pytorch/vision/issues/906).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        batch_norm: bool = True,
        kernel_5x5: int = 3,
    ) -> None:
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=kernel_5x5, padding=kernel_5x5 // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, bn, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: average pool to 4x4, 1x1 conv 128, FC 1024, ReLU, dropout 0.7, FC.

    Szegedy et al. 2014, Sec. 5. torchvision pools adaptively to 4x4; the paper pools 5x5
    with stride 3 ("resulting in an 4x4x512 output for the (4a), and 4x4x528 for the (4d)
    stage"), which ``pool`` adds (the paper variant; the adaptive pool after it is then the
    identity at 224x224 and keeps the head working on larger inputs). ``fc2`` is the class
    layer (made by the network, which owns its classifiers).
    """

    def __init__(
        self,
        in_channels: int,
        fc2: nn.Module,
        dropout: float = 0.7,
        batch_norm: bool = True,
        pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))  # N x 512|528 x 4 x 4
        self.conv = BasicConv2d(in_channels, 128, batch_norm, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = fc2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        x = torch.flatten(self.conv(self.avgpool(x)), 1)  # N x 2048
        x = self.dropout(self.relu(self.fc1(x)))  # N x 1024
        return self.fc2(x)


class GoogLeNet(ZooModel):
    """Stem (7x7/2 conv, pool, 1x1, 3x3, pool), nine Inception modules, global pool, dropout, FC.

    Szegedy et al. 2014, Table 1 and Fig. 3, with the auxiliary classifiers on (4a) and (4d)
    (Sec. 5) unless ``aux_logits=False``. Pooling rounds up (``ceil_mode``) as in the Caffe
    and TensorFlow models. ``variant`` is ``"torchvision"`` or ``"paper"`` (see the module
    docstring). ``drop_rate`` is the dropout before the classifier (default 0.2,
    torchvision's; 0.4 for the paper variant, Table 1), ``aux_drop_rate`` the auxiliary
    heads' (0.7, Sec. 5). ``transform_input=True`` maps inputs normalised with the ImageNet
    mean/std to the [-1, 1] range that torchvision's ported weights expect. ``init_weights``
    (torchvision's argument): True or None draws the variant's initialisation (torchvision's
    truncated normal, or the Caffe reproduction's for the paper variant); False keeps PyTorch's
    default layer initialisation, which is quicker where weights are loaded over it anyway.
    """

    # positions among the trunk's layers of inception (4a) and (4d), which the auxiliary heads read
    # (empty without them); declared for TorchScript, which cannot type an empty list
    aux_taps: list[int]

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        variant: Variant = "torchvision",
        drop_rate: float | None = None,
        aux_drop_rate: Rate = 0.7,
        init_weights: bool | None = None,
        arch_name: str = "googlenet",
    ) -> None:
        paper = variant == "paper"
        drop_rate = (0.4 if paper else 0.2) if drop_rate is None else drop_rate
        super().__init__(num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate)
        self.variant = variant
        # torchvision's None warns that its default may change and then draws; cnnzoo's default is to draw
        self.draws_init = init_weights is not False
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        bn, k5 = not paper, 5 if paper else 3

        self.conv1 = BasicConv2d(in_chans, 64, bn, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        # the paper's stem normalises after the first pooling and after conv 3x3 (Fig. 3)
        self.lrn1: nn.Module | None = _caffe_lrn() if paper else None
        self.conv2 = BasicConv2d(64, 64, bn, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, bn, kernel_size=3, padding=1)
        self.lrn2: nn.Module | None = _caffe_lrn() if paper else None
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        def inception(name: str) -> Inception:
            return Inception(*INCEPTION_CONFIGS[name], batch_norm=bn, kernel_5x5=k5)

        self.inception3a, self.inception3b = inception("inception3a"), inception("inception3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b = inception("inception4a"), inception("inception4b")
        self.inception4c, self.inception4d = inception("inception4c"), inception("inception4d")
        self.inception4e = inception("inception4e")
        # the paper has 3x3/2 here (Table 1); torchvision's 2x2/2 gives the same 7x7 at 224
        self.maxpool4 = nn.MaxPool2d(3 if paper else 2, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = inception("inception5a"), inception("inception5b")
        self.num_features = 1024
        # stage outputs: the last layer at each stride, 2 (conv1) to 32 (inception 5b)
        self.set_feature_info(
            [
                dict(num_chs=64, reduction=2, module="conv1"),
                dict(num_chs=192, reduction=4, module="lrn2" if paper else "conv3"),
                dict(num_chs=480, reduction=8, module="inception3b"),
                dict(num_chs=832, reduction=16, module="inception4e"),
                dict(num_chs=1024, reduction=32, module="inception5b"),
            ]
        )
        self._init_modules(self)
        trunk = [name for name, _ in self.named_children()]
        self.aux_taps = [trunk.index("inception4a"), trunk.index("inception4d")] if aux_logits else []
        # the classifiers: the main one first, then the auxiliary heads (reset together);
        # registered in torchvision's order (aux1, aux2, ..., fc), as its state dicts are
        fc = self.new_classifier("fc", self.num_features)
        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1, self.aux2 = (
                InceptionAux(
                    chs,
                    self.new_classifier(f"{name}.fc2", 1024),
                    dropout=aux_drop_rate,
                    batch_norm=bn,
                    pool=nn.AvgPool2d(5, stride=3) if paper else None,
                )
                for name, chs in (("aux1", 512), ("aux2", 528))
            )
            for aux in (self.aux1, self.aux2):
                self._init_modules(aux)
        self.min_input_size = self._smallest_input()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=drop_rate)
        self.fc = fc

    def _smallest_input(self) -> tuple[int, int, int]:
        # the stem and the four max pools take the input down to 1x1 at 15x15 (torchvision); the
        # Inception modules keep the size. The paper's auxiliary heads pool 5x5 (stride 3) on
        # the 16x-reduced map of (4a), which needs 5x5 there: 79x79 in.
        chain = [
            m
            for part in (self.conv1, self.maxpool1, self.conv2, self.conv3, self.maxpool2, self.maxpool3)
            for m in part.modules()
        ]
        sizes = [smallest_input_size([*chain, self.maxpool4])]
        if self.aux1 is not None and self.aux1.pool is not None:
            sizes.append(smallest_input_size([*chain, self.aux1.pool]))
        return (self.in_chans, max(s[0] for s in sizes), max(s[1] for s in sizes))

    def _init_modules(self, root: nn.Module) -> None:
        if not self.draws_init:  # init_weights=False: PyTorch's default initialisation of each layer
            return
        if self.variant == "paper":
            # the paper states no initialisation; the BVLC Caffe reproduction of GoogLeNet
            # (bvlc_googlenet) uses "xavier" fillers, uniform in +-sqrt(3 / fan_in), and biases 0.2
            init_weights(root, _caffe_xavier, _caffe_xavier, bias=0.2)
        else:
            # torchvision's initialisation (init_weights=True): a fresh model is drawn from the
            # same distribution as torchvision's (biases keep PyTorch's default)
            init_weights(root, _truncated_normal, _truncated_normal, bias=None)

    def init_classifier(self, layer: nn.Linear) -> None:
        """Initialised as the network's other layers (see ``_init_modules``)."""
        self._init_modules(layer)

    @property
    def transform_input(self) -> bool:
        """Whether ``forward`` first maps ImageNet-normalised input to [-1, 1] (3 channels only)."""
        return self._transform_input

    @transform_input.setter
    def transform_input(self, value: bool) -> None:
        if value and self.in_chans != 3:
            raise InvalidArgumentError(
                f"transform_input maps the 3 ImageNet RGB channels; this model has in_chans={self.in_chans}"
            )
        self._transform_input = bool(value)

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        # x_c * std_c / 0.5 + (mean_c - 0.5) / 0.5: undo ImageNet normalisation, redo it as
        # (x - 0.5) / 0.5; the same arithmetic as torchvision's, channel by channel
        return torch.cat(
            [
                x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
            ],
            1,
        )

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.arch_name, self.min_input_size)
        return self._transform(x) if self.transform_input else x

    def forward_stages(
        self, x: torch.Tensor, take: list[int], stop_index: int = -1, norm: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Stem and Inception modules (N x C x 224 x 224 -> N x 1024 x 7 x 7), keeping the
        stage outputs in ``take``; ``norm`` has nothing to add."""
        return self.run_stages(self._input(x), take, stop_index)

    def drop_head_layers(self) -> None:
        """The auxiliary heads go with the classifier (prune_intermediate_layers)."""
        self.aux1 = self.aux2 = None
        self.aux_taps = []
        self.classifier_widths = {"fc": self.classifier_widths["fc"]}

    def forward(self, x: torch.Tensor) -> GoogLeNetOutputs | torch.Tensor:
        """Main logits in eval mode; :class:`GoogLeNetOutputs` in training mode with aux heads."""
        no_taps: list[int] = []
        # the trunk also keeps inception (4a)'s and (4d)'s outputs where the auxiliary heads read them
        features, taps = self.run_layers(self._input(x), self.aux_taps if self.training else no_taps, -1)
        if self.head_pruned:
            return features
        logits = self.forward_head(features)
        if self.training and self.aux1 is not None and self.aux2 is not None:
            return GoogLeNetOutputs(logits, self.aux1(taps[0]), self.aux2(taps[1]))
        return logits


def _caffe_xavier(m: nn.Conv2d | nn.Linear) -> None:
    nn.init.kaiming_uniform_(m.weight, nonlinearity="linear")


def _truncated_normal(m: nn.Conv2d | nn.Linear) -> None:
    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)


def _caffe_lrn() -> nn.LocalResponseNorm:
    # The paper gives no constants; the BVLC Caffe reproduction (bvlc_googlenet) uses
    # local_size 5, alpha 1e-4, beta 0.75 (and Caffe's k = 1), Caffe's convention of alpha
    # divided by the size, which is PyTorch's too
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)


@register_model(
    family="googlenet",
    paper="Going Deeper with Convolutions",
    authors="C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, A. Rabinovich",
    year=2014,
    url="https://arxiv.org/abs/1409.4842",
    input_size=(3, 224, 224),
    num_classes=1000,
    notes="default variant 'torchvision': BN in every conv unit and 3x3 kernels in the '5x5' "
    "branch (pytorch/vision#906), whose weights need transform_input=True; "
    "variant='paper' is the network of the paper (5x5, LRN, no BN, dropout 0.4)",
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet (Inception v1) with both auxiliary classifiers; Szegedy et al. 2014, Table 1.

    ``variant="torchvision"`` (default; 13,004,888 parameters with the auxiliary heads,
    6,624,904 with ``aux_logits=False``) or ``"paper"`` (6,998,552 without the heads).
    Keyword arguments (``variant``, ``aux_logits``, ``transform_input``, ``drop_rate``,
    ``aux_drop_rate``) are :class:`GoogLeNet`'s.
    """
    return GoogLeNet(**kwargs)
