"""The model contract: what every cnnzoo network is, written once.

Every family's network derives from :class:`ZooModel` and so has timm's interface:

* ``forward(x) == forward_head(forward_features(x))``;
* ``forward_features(x)``: the last feature map, N x ``num_features`` x h x w;
* ``forward_head(x, pre_logits=False)``: global pooling, the head's hidden layers (AlexNet's,
  ZFNet's and VGG's fc6 and fc7, LeNet-5's F6) and the head dropout (``drop_rate``), then the
  classifier. ``pre_logits=True`` returns the classifier's input, N x ``head_hidden_size``
  (after the dropout, which is the identity in eval mode), as timm does;
* ``get_classifier()`` and ``reset_classifier(num_classes)``: the new classifier is built on
  the model's device and dtype and initialised as the constructor initialises it;
  ``reset_classifier(0)`` makes the network end at its pre-logits features;
* ``num_classes``, ``in_chans``, ``num_features``, ``head_hidden_size``, ``drop_rate``,
  ``arch_name``, ``min_input_size``, ``fixed_input_size`` and, for registered models,
  ``pretrained_cfg``.

A network with more than one classifier (GoogLeNet's auxiliary heads) declares them all;
``reset_classifier`` replaces them together. A training-mode output that is not a plain
tensor follows one protocol (:func:`logits_of`, :func:`output_loss`): ``.logits`` are the
main logits and ``.aux_logits`` the auxiliary ones, whose losses are added with a weight.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import InvalidArgumentError
from .layers import check_input_size, check_model_args, check_rate, has_storage

__all__ = ["ZooModel", "first_conv_name", "classifier_names", "logits_of", "output_loss"]

torch.fx.wrap("check_input_size")  # a leaf for torch.fx in this module too (see layers.check_input_size)


class ZooModel(nn.Module):
    """Base class of every cnnzoo network: the common interface (see the module docstring).

    A family's ``__init__`` calls ``super().__init__(num_classes=..., in_chans=...,
    arch_name=..., drop_rate=...)``, builds its layers, sets ``num_features`` and
    ``min_input_size``, and creates each classifier with :meth:`new_classifier`, which also
    records it. It defines ``forward_head`` (its pooling and hidden layers) and, unless the
    layers are one ``features`` stack, ``forward_features``. It may override
    :meth:`make_classifier` (another kind of output layer) or :meth:`init_classifier` (its
    initialisation of a new classifier).
    """

    if TYPE_CHECKING:  # set by the families' constructors; declared for type checkers only, since
        # TorchScript reads class annotations as attribute types (and cannot parse these)
        features: nn.Module
        num_features: int
        head_hidden_size: int
        min_input_size: tuple[int, int, int]
        pretrained_cfg: dict[str, Any]

    def __init__(self, *, num_classes: int, in_chans: int, arch_name: str | None = None,
                 drop_rate: float = 0.0, fixed_input_size: bool = False) -> None:
        super().__init__()
        check_model_args(num_classes, in_chans)
        check_rate("drop_rate", drop_rate)
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.arch_name = arch_name or type(self).__name__
        self.drop_rate = float(drop_rate)
        #: True where the classifier is tied to one input size (LeNet-5's C5 reads a 5x5 map)
        self.fixed_input_size = fixed_input_size
        # classifier module name -> its input width; the first one is the main classifier
        self.classifier_widths: dict[str, int] = {}

    # ------------------------------------------------------------------ forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature stack: N x in_chans x H x W -> N x num_features x h x w."""
        check_input_size(x, self.arch_name, self.min_input_size)
        return self.features(x)

    @abc.abstractmethod
    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooling, hidden layers, dropout, then the classifier unless ``pre_logits`` (each
        family defines it)."""

    def forward(self, x: torch.Tensor) -> Any:
        if self.fixed_input_size:  # fixed at construction: a constant to the compilers
            check_input_size(x, self.arch_name, self.min_input_size, exact=True)
        return self.forward_head(self.forward_features(x))

    # ------------------------------------------------------------------ classifiers
    def new_classifier(self, name: str, in_features: int) -> nn.Module:
        """Create (and record under ``name``, its module path) a classifier for ``num_classes``.

        The first one recorded is the main classifier; its input width is ``head_hidden_size``.
        """
        if not self.classifier_widths:
            self.head_hidden_size = in_features
        self.classifier_widths[name] = in_features
        return self._build_classifier(in_features)

    def make_classifier(self, in_features: int, num_classes: int) -> nn.Module:
        """A new output layer (``num_classes`` > 0): a Linear, initialised by :meth:`init_classifier`."""
        layer = nn.Linear(in_features, num_classes)
        if has_storage(layer):
            self.init_classifier(layer)
        return layer

    def init_classifier(self, layer: nn.Linear) -> None:
        """Initialise a new classifier; PyTorch's default unless the family's constructor differs."""

    def _build_classifier(self, in_features: int) -> nn.Module:
        if self.num_classes == 0:
            return nn.Identity()
        ref = next(self.parameters(), None)
        # the new layer lives where the network does (its device and dtype), also on "meta"
        where = torch.device(ref.device) if ref is not None else contextlib.nullcontext()
        with where:
            layer = self.make_classifier(in_features, self.num_classes)
        return layer.to(dtype=ref.dtype) if ref is not None and ref.is_floating_point() else layer

    def get_classifier(self) -> nn.Module:
        """The main classifier (the last layer of ``forward_head``)."""
        return self.get_submodule(next(iter(self.classifier_widths)))

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New classifiers for ``num_classes`` (0: none, the network ends at its pre-logits).

        Every classifier the network has is replaced (GoogLeNet's auxiliary ones too, so its
        training outputs keep one shape). ``global_pool`` is accepted for timm's signature;
        cnnzoo's networks pool by averaging (``"avg"``).
        """
        if global_pool not in (None, "avg"):
            raise InvalidArgumentError(f"{self.arch_name} pools by averaging; global_pool must be 'avg' "
                                       f"or None, got {global_pool!r}")
        check_model_args(num_classes, self.in_chans)
        self.num_classes = num_classes
        for name, width in self.classifier_widths.items():
            parent, _, attr = name.rpartition(".")
            # setattr also replaces a Sequential's element ("classifier.6": attribute "6")
            setattr(self.get_submodule(parent) if parent else self, attr, self._build_classifier(width))


def first_conv_name(model: nn.Module) -> str | None:
    """The module name of the first convolution (whose input channels ``in_chans`` sets)."""
    return next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def classifier_names(model: nn.Module) -> tuple[str, ...]:
    """The module names of a model's classifiers, the main one first (timm's ``classifier``)."""
    widths = getattr(model, "classifier_widths", None)
    if isinstance(widths, dict) and widths:
        return tuple(widths)
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else None
    return tuple(n for n, m in model.named_modules() if head is not None and m is head)


# ---------------------------------------------------------------------- outputs
def logits_of(output: Any) -> torch.Tensor:
    """The main logits of a model output: the tensor itself, or its ``.logits``."""
    return output.logits if hasattr(output, "logits") else output


def output_loss(output: Any, target: torch.Tensor,
                criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                aux_weight: float = 0.3) -> torch.Tensor:
    """The training loss of a model output: the criterion of the main logits, plus
    ``aux_weight`` times the criterion of each auxiliary output (``.aux_logits``).

    For a plain tensor it is ``criterion(output, target)``; ``criterion`` defaults to
    cross-entropy. GoogLeNet's auxiliary classifiers are weighted 0.3 (Szegedy et al.
    2014, Sec. 5).
    """
    criterion = criterion or nn.functional.cross_entropy
    if isinstance(output, torch.Tensor):
        return criterion(output, target)
    logits = getattr(output, "logits", None)
    if not isinstance(logits, torch.Tensor):
        raise InvalidArgumentError(
            f"a model output must be a Tensor or have .logits (as GoogLeNetOutputs), got {type(output).__name__}")
    loss = criterion(logits, target)
    aux: Sequence[torch.Tensor | None] = getattr(output, "aux_logits", ())
    for a in aux:
        if a is not None:
            loss = loss + aux_weight * criterion(a, target)
    return loss
