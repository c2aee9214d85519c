"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998), in its modern and its paper form.

"Gradient-Based Learning Applied to Document Recognition", Proc. IEEE 86(11), Sec. II-B
and Fig. 2: a 32x32 input, C1 6@5x5, S2 subsampling, C3 16@5x5, S4 subsampling, C5 120@5x5
(a full connection to S4's 5x5 maps), F6 84 units, then the output layer.

Two variants share one network class:

* ``"modern"`` (default): the form taught today and used by most tutorials; ReLU, 2x2 max
  pooling, a fully connected C3 and a linear output layer (61,706 parameters for 10 classes).
* ``"paper"``: the 1998 network; C3's partial connection table (Table I), trainable
  subsampling, the scaled tanh of Appendix A and Euclidean RBF output units; exactly
  60,840 trainable parameters for 10 classes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

import torch
from torch import nn

from .arguments import Count, NonEmpty, Whole, checked
from .base import ZooModel
from .layers import init_weights, stack_feature_info
from .registry import register_model

__all__ = [
    "ScaledTanh",
    "Subsampling",
    "PartiallyConnectedConv2d",
    "EuclideanRBF",
    "LeNet5",
    "C3_CONNECTION_TABLE",
    "lenet5",
]

#: Table I of the paper: for each of C3's 16 feature maps, the S2 maps it reads. Maps 0-5
#: take 3 contiguous S2 maps, 6-11 four contiguous ones, 12-14 four non-contiguous ones and
#: map 15 all six. The paper breaks the symmetry this way so that the maps are forced to
#: extract different features (Sec. II-B), and keeps the connection count reasonable.
C3_CONNECTION_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

#: the 1998 network as published, or with ReLU, max pooling and a full C3 (see LeNet5)
Variant = Literal["modern", "paper"]
VARIANTS = get_args(Variant)


class ScaledTanh(nn.Module):
    """The squashing function f(a) = A tanh(S a) with A = 1.7159, S = 2/3.

    LeCun et al. 1998, Appendix A: with these constants f(1) = 1 and f(-1) = -1, and the
    second derivative is largest at a = +-1, so targets of +-1 sit in the non-linear range.
    """

    amplitude: float = 1.7159
    slope: float = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling(nn.Module):
    """Trainable 2x2 subsampling: the sum of each 2x2 block times a coefficient plus a bias.

    LeCun et al. 1998, Sec. II-B (layer S2): "The four inputs to a unit in S2 are added,
    then multiplied by a trainable coefficient, and added to a trainable bias"; one
    coefficient and one bias per feature map (S2: 6 x 2 = 12 parameters). The squashing
    that follows is a separate module.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.stride = (2, 2)  # read by the stride bookkeeping of feature_info
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        # The paper does not give this start; 1/4 makes the layer begin as 2x2 averaging.
        nn.init.constant_(self.weight, 0.25)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = nn.functional.avg_pool2d(x, kernel_size=2, stride=2) * 4.0  # sum of 2x2
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size=2, stride=2"


#: the input maps each output map reads: at least one (without any, an output map would be a constant)
ConnectionTable = Annotated[Sequence[Annotated[Sequence[Whole], NonEmpty]], NonEmpty]


class PartiallyConnectedConv2d(nn.Module):
    """A convolution whose output maps each read only some input maps (a connection table).

    LeCun et al. 1998, Sec. II-B and Table I (layer C3). Output maps with the same number
    of inputs form one grouped convolution over the gathered input maps, so every weight
    is a real parameter (C3: 60 5x5 kernels + 16 biases = 1,516) and FLOP counters see
    the true cost. ``table[i]`` lists the input maps of output map ``i``.
    """

    @checked  # an output map with no input map would be a constant: at least one input per output map
    def __init__(
        self, table: Annotated[Sequence[Annotated[Sequence[Whole], NonEmpty]], NonEmpty], kernel_size: Count
    ) -> None:
        super().__init__()
        self.in_channels = 1 + max(max(inputs) for inputs in table)
        self.out_channels = len(table)
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (1, 1)
        self.padding = (0, 0)
        self.table = tuple(tuple(inputs) for inputs in table)
        order: list[int] = []
        self.gather: list[list[int]] = []  # input map indices each grouped conv reads
        convs = []
        for fan_in in sorted({len(inputs) for inputs in self.table}):
            maps = [i for i, inputs in enumerate(self.table) if len(inputs) == fan_in]
            order += maps
            self.gather.append([c for i in maps for c in self.table[i]])
            convs.append(nn.Conv2d(fan_in * len(maps), len(maps), kernel_size, groups=len(maps)))
        self.convs = nn.ModuleList(convs)
        # put the outputs back in table order (Table I is already sorted by fan-in)
        inverse = sorted(range(len(order)), key=order.__getitem__)
        self.output_index: list[int] | None = None if inverse == list(range(len(order))) else inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([conv(x[:, idx]) for conv, idx in zip(self.convs, self.gather)], dim=1)
        return out if self.output_index is None else out[:, self.output_index]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={sum(len(t) for t in self.table)}"
        )


class EuclideanRBF(nn.Module):
    """Euclidean radial basis function output units: y_i = sum_j (x_j - w_ij)^2.

    LeCun et al. 1998, Sec. II-B (Eq. 7), one unit per class with 84 parameters each and no
    bias. The paper's RBF output is a *penalty* (smaller = more likely). We return the
    negative squared distance, so that larger is more likely and the output can be used
    as logits with cross-entropy and argmax, like every other cnnzoo model. The paper's
    centres were +-1 bitmaps of stylised characters; we start from random +-1 codes, which
    the paper names as the alternative (Sec. II-B), and keep them trainable.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        with torch.no_grad():
            self.weight.copy_(torch.randint(0, 2, self.weight.shape).float() * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 1 x F - 1 x K x F -> N x K
        return -(x.unsqueeze(1) - self.weight.unsqueeze(0)).pow(2).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias=False"


class LeNet5(ZooModel):
    """LeNet-5: C1 conv 6@5x5, S2, C3 conv 16@5x5, S4, C5 conv 120@5x5, F6 84, output.

    LeCun et al. 1998, Sec. II-B and Fig. 2. ``variant="modern"`` (default) uses ReLU,
    2x2 max pooling, a full C3 and a linear output; ``variant="paper"`` uses the scaled
    tanh (Appendix A), trainable subsampling, C3's connection table (Table I) and Euclidean
    RBF outputs that return negative squared distances (see :class:`EuclideanRBF`). The
    input must be 32x32 (others raise :class:`~cnnzoo.errors.InputSizeError`): C5 is a 5x5
    convolution over S4's 5x5 maps, so the classifier is tied to that size (pad 28x28 MNIST
    digits by 2, as the paper does). ``forward_features`` on a larger input gives C5's map
    at every position, the paper's replicated network of Sec. VII. ``drop_rate`` is a
    dropout before the output layer (0: the paper has none). ``global_pool`` is ``"avg"``
    (C5's single position is passed on as it is) or ``""`` with no classifier (the network
    ends at C5's map).
    """

    global_pools = ("", "avg")
    global_pool_note = "F6 reads C5's single position at the fixed 32x32 input: there is nothing to pool"

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 1,
        variant: Variant = "modern",
        drop_rate: float = 0.0,
        arch_name: str = "lenet5",
    ) -> None:
        # F6 reads C5's single position, so the whole network takes 32x32 only
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, arch_name=arch_name, drop_rate=drop_rate, fixed_input_size=True
        )
        self.variant = variant
        paper = variant == "paper"

        def act() -> nn.Module:
            return ScaledTanh() if paper else nn.ReLU(inplace=True)

        layers: list[tuple[str, nn.Module]] = [("c1", nn.Conv2d(in_chans, 6, 5)), ("act1", act())]
        if paper:
            # every layer up to F6 squashes its weighted sum, subsampling included (Sec. II-B)
            layers += [
                ("s2", Subsampling(6)),
                ("act2", act()),
                ("c3", PartiallyConnectedConv2d(C3_CONNECTION_TABLE, 5)),
                ("act3", act()),
                ("s4", Subsampling(16)),
                ("act4", act()),
            ]
        else:
            layers += [("s2", nn.MaxPool2d(2)), ("c3", nn.Conv2d(6, 16, 5)), ("act3", act()), ("s4", nn.MaxPool2d(2))]
        layers += [("c5", nn.Conv2d(16, 120, 5)), ("act5", act())]
        self.features = nn.Sequential(OrderedDict(layers))  # N x 120 x 1 x 1 at 32x32
        self.num_features = 120
        # C5 is a 5x5 convolution over S4's 5x5 maps: 32x32 in, 1x1 out (Sec. II-B)
        self.min_input_size = (in_chans, 32, 32)
        # stage outputs: C1 (6 maps, stride 1), C3 (16, stride 2), C5 (120, stride 4), each
        # after its squashing; the unpadded convolutions shrink the maps further (28, 10, 1)
        widths = {"c1": 6, "c3": 16, "c5": 120}
        chs, per_layer = in_chans, []
        for name, _ in layers:
            chs = widths.get(name, chs)
            per_layer.append(chs)
        self.set_feature_info(stack_feature_info(self.features, per_layer))
        self.f6: nn.Module = nn.Linear(120, 84)
        self.act6 = act()
        self.drop = nn.Dropout(drop_rate)
        if paper:
            init_weights(self, _lecun_uniform, _lecun_uniform, bias=None)
        self.output = self.new_classifier("output", 84)

    def make_classifier(self, in_features: int, num_classes: int) -> nn.Module:
        """The paper's Euclidean RBF units, or a linear layer (modern)."""
        if self.variant == "paper":
            return EuclideanRBF(in_features, num_classes)
        return super().make_classifier(in_features, num_classes)

    def drop_head_layers(self) -> None:
        """F6 goes with the output layer (prune_intermediate_layers)."""
        self.f6, self.act6 = nn.Identity(), nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """F6 and the output layer on C5's 1x1 maps; ``pre_logits`` returns F6's 84 activations."""
        x = self.forward_pool(x)  # the average of C5's one position is that position
        if self.global_pool == "":
            return x
        x = self.drop(self.act6(self.f6(x)))
        return x if pre_logits else self.output(x)


def _lecun_uniform(m: nn.Conv2d | nn.Linear) -> None:
    # Appendix A: weights (and biases) uniform in +-2.4 / F_i, F_i the fan-in of the unit, which
    # keeps the weighted sums in the range where the scaled tanh is not saturated
    bound = 2.4 / m.weight[0].numel()
    nn.init.uniform_(m.weight, -bound, bound)
    if m.bias is not None:
        nn.init.uniform_(m.bias, -bound, bound)


@register_model(
    family="lenet",
    paper="Gradient-Based Learning Applied to Document Recognition",
    authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner",
    year=1998,
    url="https://doi.org/10.1109/5.726791",
    input_size=(1, 32, 32),
    num_classes=10,
    notes="default variant 'modern' (ReLU, max-pool, linear output); "
    "variant='paper' is the 1998 network (60,840 parameters)",
)
def lenet5(**kwargs: Any) -> LeNet5:
    """LeNet-5, 32x32 grayscale input; LeCun et al. 1998, Sec. II-B and Fig. 2.

    ``variant="modern"`` (default: ReLU, max pooling, linear output) or ``"paper"`` (scaled
    tanh, trainable subsampling, C3 connection table, RBF output giving negative squared
    distances); the keyword arguments are :class:`LeNet5`'s.
    """
    return LeNet5(**kwargs)
