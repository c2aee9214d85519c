"""The model contract: what every cnnzoo network is, written once.

Every family's network derives from :class:`ZooModel` and so has timm's interface:

* ``forward(x) == forward_head(forward_features(x))``;
* ``forward_features(x)``: the last feature map, N x ``num_features`` x h x w;
* ``forward_head(x, pre_logits=False)``: global pooling, the head's hidden layers (AlexNet's,
  ZFNet's and VGG's fc6 and fc7, LeNet-5's F6) and the head dropout (``drop_rate``), then the
  classifier. ``pre_logits=True`` returns the classifier's input, N x ``head_hidden_size``
  (after the dropout, which is the identity in eval mode), as timm does;
* ``get_classifier()`` and ``reset_classifier(num_classes, global_pool=None)``: the new
  classifier is built on the model's device and dtype and initialised as the constructor
  initialises it; ``reset_classifier(0)`` makes the network end at its pre-logits features;
* ``global_pool``: timm's pooling type of the head, one of the family's ``global_pools``
  (``""``: none, ``"avg"``, ``"max"``, ``"avgmax"``, ``"catavgmax"``), set by
  ``reset_classifier`` or :meth:`ZooModel.set_global_pool`; with ``""`` (and no classifier)
  ``forward_head`` returns the unpooled map. ``"catavgmax"`` doubles ``head_hidden_size``
  (``num_features`` stays the map's channels, as in timm);
* ``num_classes``, ``in_chans``, ``num_features``, ``head_hidden_size``, ``drop_rate``,
  ``arch_name``, ``min_input_size``, ``fixed_input_size`` and, for registered models,
  ``pretrained_cfg``.

A network with more than one classifier (GoogLeNet's auxiliary heads) declares them all;
``reset_classifier`` replaces them together. A training-mode output that is not a plain
tensor follows one protocol (:func:`logits_of`, :func:`googlenet_loss`): ``.logits`` are the
main logits and ``.aux_logits`` the auxiliary ones, whose losses are added with a weight.

Every network is also a backbone (timm's feature API, :mod:`cnnzoo.models.backbone`):

* ``feature_info``: one ``dict(num_chs, reduction, module)`` per stage output, in forward
  order, declared by the family with :meth:`ZooModel.set_feature_info`; the last entry is
  the map ``forward_features`` returns (DenseNet: before its final ReLU);
* ``forward_intermediates(x, indices=None, norm=False, stop_early=False, output_fmt="NCHW",
  intermediates_only=False)``: the final feature map and the chosen stage outputs;
* ``prune_intermediate_layers(indices, prune_norm=False, prune_head=True)``: remove the
  stages after the last chosen one and the head; ``forward`` then returns the last kept map;
* ``forward_stages(x, take, stop_index, norm)``: the one typed function behind both (what
  ``features_only`` extractors call; TorchScript compiles it).

No ``from __future__ import annotations`` in this module: TorchScript and torch.fx read the
annotations of ``forward`` at run time (a string annotation there makes every FX-traced
feature extractor unscriptable).
"""

import contextlib
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError, ModelContractError
from .arguments import check_arguments, check_rate
from .backbone import Indices, feature_take_indices
from .layers import (
    GLOBAL_POOLS,
    check_input_size,
    check_model_args,
    has_storage,
    make_global_pool,
    pool_feat_mult,
)

__all__ = [
    "ZooModel",
    "class_contract_problems",
    "CONTRACT_METHODS",
    "CONSTRUCTOR_KEYWORDS",
    "first_conv_name",
    "classifier_names",
    "logits_of",
    "googlenet_loss",
]

torch.fx.wrap("check_input_size")  # a leaf for torch.fx in this module too (see layers.check_input_size)

#: the methods others call by these parameters (backbone.py, the analysis tools, timm-style code): a
#: family that overrides one keeps the parameters of ZooModel's
CONTRACT_METHODS = (
    "forward_features",
    "forward_stages",
    "forward_head",
    "forward_pool",
    "forward_intermediates",
    "prune_intermediate_layers",
    "prune_stages_after",
    "drop_head_layers",
    "new_classifier",
    "make_classifier",
    "init_classifier",
    "get_classifier",
    "reset_classifier",
    "set_global_pool",
    "set_feature_info",
)
#: the names of the main classifier that the default forward_head calls
_HEADS = ("fc", "classifier")
#: what create_model, the weights and training configs pass to every constructor (timm's names)
CONSTRUCTOR_KEYWORDS = ("num_classes", "in_chans", "drop_rate")


class ZooModel(nn.Module):
    """Base class of every cnnzoo network: the common interface (see the module docstring).

    A family's ``__init__`` calls ``super().__init__(num_classes=..., in_chans=...,
    arch_name=..., drop_rate=...)``, builds its layers, sets ``num_features`` and
    ``min_input_size``, and creates each classifier with :meth:`new_classifier`, which also
    records it, and declares its stage outputs with :meth:`set_feature_info`: layers of its
    trunk, a ``features`` stack or its own children in forward order (:meth:`run_layers`).
    It may override :meth:`forward_head` (a head with hidden layers), :meth:`make_classifier`
    (another kind of output layer), :meth:`init_classifier` (its initialisation of a new
    classifier) or :meth:`drop_head_layers` (hidden head layers). What a family must provide
    is checked when its class is defined (:func:`class_contract_problems`) and when it is built.
    """

    # the position of each stage's end among the trunk's layers (run_layers), declared here for
    # TorchScript's sake
    feature_ends: list[int]

    #: the ``global_pool`` values the family's head takes (timm's types); a family whose head has
    #: layers between the pooling and the classifier leaves out "catavgmax", which would change them
    global_pools = GLOBAL_POOLS
    #: why a family takes only some pooling types (said when another one is asked for)
    global_pool_note = ""

    if TYPE_CHECKING:  # set by the families' constructors; declared for type checkers only, since
        # TorchScript reads class annotations as attribute types (and cannot parse these)
        features: nn.Sequential
        avgpool: nn.Module  # the default forward_head's modules, where a family registers them
        dropout: nn.Module
        drop: nn.Module
        fc: nn.Module
        classifier: Any  # a Linear, or a Sequential that holds it
        num_features: int
        head_hidden_size: int
        min_input_size: tuple[int, int, int]
        pretrained_cfg: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check, when a family is defined, what its class must provide (see :func:`class_contract_problems`)."""
        super().__init_subclass__(**kwargs)
        problems = class_contract_problems(cls)
        if problems:
            raise ModelContractError(
                f"{cls.__module__}.{cls.__qualname__} does not meet the cnnzoo model "
                f"contract (cnnzoo.models.base): {'; '.join(problems)}"
            )
        # the arguments of the outermost constructor (what comes from outside: a family's calls of
        # its parent's __init__ are its own) are checked against its annotations before it runs, and
        # what only an instance shows once it has returned: the constructor is wrapped, not replaced
        # by a metaclass's __call__, so that inspect.signature of the class (which --model-arg
        # typing, timm's and torchvision's registries read) stays its own
        init = cls.__init__

        @functools.wraps(init)
        def checked_init(self: ZooModel, *args: Any, **kw: Any) -> None:
            outermost = type(self) is cls
            if outermost:
                check_arguments(kw.get("arch_name") or cls.__name__, init, args, kw)
            init(self, *args, **kw)
            if outermost:
                self._check_built()

        cls.__init__ = checked_init  # type: ignore[method-assign]

    def _check_built(self) -> None:
        # what a constructor must have set: the forward and the tools read these, and without the
        # check a forgotten one shows up only at the first forward, as an AttributeError
        problems = []
        reductions: list[Any] = [1] + [f.get("reduction") for f in self.feature_info]
        if not self.feature_info:
            problems.append("no stage outputs: declare them with set_feature_info")
        elif not all(isinstance(f.get("num_chs"), int) and f["num_chs"] > 0 for f in self.feature_info) or not (
            all(isinstance(r, int) for r in reductions) and reductions == sorted(reductions)
        ):
            problems.append(
                f"feature_info {self.feature_info}: each stage needs num_chs > 0 and a reduction that never "
                "decreases along the network"
            )
        if -1 in self.feature_ends or self.feature_ends != sorted(set(self.feature_ends)):
            prefix, names = self._trunk_names()
            problems.append(
                f"{type(self).__qualname__}'s stage outputs {[f.get('module') for f in self.feature_info]} must be "
                f"layers of its trunk in forward order: {'layers of features' if prefix else 'its own children'} "
                f"({', '.join(names)})"
            )
        if not self.classifier_widths:
            problems.append("no classifier: create each one with new_classifier")
        if not isinstance(getattr(self, "num_features", None), int):
            problems.append("num_features (the channels of forward_features) is not set")
        size = getattr(self, "min_input_size", None)
        if not (isinstance(size, tuple) and len(size) == 3 and all(isinstance(n, int) for n in size)):
            problems.append("min_input_size (in_chans, H, W) is not set")
        elif type(self).forward_head is ZooModel.forward_head and next(iter(self.classifier_widths)) not in _HEADS:
            problems.append(
                f"the default forward_head calls the main classifier {' or '.join(_HEADS)}, not "
                f"{next(iter(self.classifier_widths))}: name it so, or define forward_head"
            )
        if problems:
            raise ModelContractError(
                f"{type(self).__qualname__} was built short of what every cnnzoo network "
                f"has (cnnzoo.models.base): {'; '.join(problems)}"
            )

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        arch_name: str | None = None,
        drop_rate: float = 0.0,
        fixed_input_size: bool = False,
    ) -> None:
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
        #: the stage outputs (set_feature_info)
        self.feature_info: list[dict[str, Any]] = []
        self.feature_ends = []
        #: True once prune_intermediate_layers removed the head: forward ends at the feature map
        self.head_pruned = False
        #: the head's pooling (timm's ``global_pool``): "avg" as built, see set_global_pool
        self.global_pool = "avg"
        #: the side of the grid the head pools to: 1 (global), AlexNet's and VGG's 6 or 7
        self.pool_output_size = 1

    # ------------------------------------------------------------------ forward
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature stack: N x in_chans x H x W -> N x num_features x h x w."""
        no_stages: list[int] = []
        return self.forward_stages(x, no_stages, -1, False)[0]

    def forward_stages(
        self, x: torch.Tensor, take: list[int], stop_index: int = -1, norm: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The feature stack, keeping the outputs of the stages in ``take`` (absolute indices).

        Runs up to stage ``stop_index`` (-1: to the end, so that the first result is the
        ``forward_features`` map). ``norm`` applies the network's final normalisation to the
        last stage where that stage's module stops before it (DenseNet's ReLU after norm5).
        """
        check_input_size(x, self.arch_name, self.min_input_size)
        return self.run_stages(x, take, stop_index)

    def run_stages(self, x: torch.Tensor, take: list[int], stop_index: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the trunk up to the end of stage ``stop_index`` (-1: all), keeping the outputs of the stages ``take``."""
        last = self.feature_ends[stop_index] if stop_index >= 0 else -1
        return self.run_layers(x, [self.feature_ends[i] for i in take], last)

    def run_layers(self, x: torch.Tensor, keep: list[int], last: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the trunk's layers up to position ``last`` (-1: all), keeping the outputs at the positions ``keep``.

        The trunk is the ``features`` stack where the network has one, otherwise the network's
        own children up to the last stage's module, in the order they were registered (ResNet's
        ``conv1`` ... ``layer4``, GoogLeNet's ``conv1`` ... ``inception5b``): one loop for every
        family, which TorchScript unrolls, as it does for any module container, so that each
        ``i`` is a constant and no stage is written out by hand.
        """
        maps: list[torch.Tensor] = []
        # hasattr on a module is settled when TorchScript compiles: one loop is compiled, not both
        if hasattr(self, "features"):
            if last == -1 and len(keep) == 0:
                # forward_features: the stack as one call, so that hooks on it (cnnzoo's analysis
                # tools, a user's) see it run
                return self.features(x), maps
            for i, layer in enumerate(self.features):
                if i <= last or last == -1:
                    x = layer(x)
                    if i in keep:
                        maps.append(x)
        else:
            end = last if last >= 0 else self.feature_ends[-1]
            for i, layer in enumerate(self.children()):  # the head's modules come after ``end``
                if i <= end:
                    x = layer(x)
                    if i in keep:
                        maps.append(x)
        return x, maps

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool (``global_pool``), flatten, dropout (``drop_rate``), then the classifier unless ``pre_logits``.

        The head of every family with nothing between the pooling and the classifier; a family
        with hidden head layers (AlexNet's fc6 and fc7, LeNet-5's F6) defines its own. The
        modules keep the names of the layouts whose weights and FX node names users rely on:
        the main classifier is ``fc`` (torchvision's ResNet and GoogLeNet) or ``classifier``
        (DenseNet, MobileNet); the pooling and the dropout are the modules ``avgpool`` and
        ``dropout`` (or ``drop``) where the family registers them, functions otherwise.
        """
        x = self.forward_pool(x)
        if self.global_pool == "":  # no pooling: the map, which no head layer reads (timm's reset_classifier(0, ''))
            return x
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        elif hasattr(self, "drop"):
            x = self.drop(x)
        else:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        if pre_logits:
            return x
        return self.fc(x) if hasattr(self, "fc") else self.classifier(x)

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The head's pooling (``global_pool``), flattened: N x C x h x w -> N x C*k*k (k: ``pool_output_size``).

        With ``global_pool=""`` the map itself, unflattened. The pooling module is ``avgpool``
        (torchvision's name, whatever the type, so that hooks and FX node names stay put) where
        the family registers one or another pooling is set; an average otherwise.
        """
        # hasattr on a module is settled when TorchScript compiles: each family compiles its own branches only
        x = self.avgpool(x) if hasattr(self, "avgpool") else F.adaptive_avg_pool2d(x, 1)
        return x if self.global_pool == "" else torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> Any:
        if self.fixed_input_size:  # fixed at construction: a constant to the compilers
            check_input_size(x, self.arch_name, self.min_input_size, exact=True)
        x = self.forward_features(x)
        if self.head_pruned:  # prune_intermediate_layers removed the head
            return x
        return self.forward_head(x)

    # ------------------------------------------------------------------ stages (backbone use)
    def set_feature_info(self, info: Sequence[dict[str, Any]]) -> None:
        """Declare the stage outputs: ``dict(num_chs, reduction, module)`` each, in forward order.

        Each ``module`` ends its stage and is a layer of the trunk (see :meth:`run_layers`):
        ``features.<name>`` where the network has a ``features`` stack, the name of one of the
        network's children otherwise.
        """
        self.feature_info = [{**entry, "index": i} for i, entry in enumerate(info)]
        self._map_stages()  # (checked with the rest once the network is built: _check_built)

    def _trunk_names(self) -> tuple[str, list[str]]:
        # the prefix of the trunk's layers in module paths, and their names in forward order
        if hasattr(self, "features"):
            return "features.", [n for n, _ in self.features.named_children()]
        return "", [n for n, _ in self.named_children()]

    def _map_stages(self) -> None:
        prefix, names = self._trunk_names()
        modules = [f.get("module") for f in self.feature_info]
        ends = [
            names.index(m[len(prefix) :])
            if isinstance(m, str) and m.startswith(prefix) and m[len(prefix) :] in names
            else -1
            for m in modules
        ]
        self.feature_ends = ends  # -1 where a module is no trunk layer (_check_built says so)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: Indices = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> Any:
        """The feature map and the outputs of the stages ``indices`` (timm's method).

        ``indices``: None for every stage of ``feature_info``, n for the last n, or a list
        (negative from the end). ``norm`` applies the final normalisation to the last stage
        where its module stops before it (DenseNet). ``stop_early`` stops after the last
        stage asked for (the first result is then that stage's map). Returns ``(final,
        [maps])``, or ``[maps]`` with ``intermediates_only``. Only ``output_fmt="NCHW"``.
        """
        if output_fmt != "NCHW":
            raise InvalidArgumentError(
                f"{self.arch_name} gives NCHW feature maps; output_fmt must be 'NCHW', got {output_fmt!r}"
            )
        take, max_index = feature_take_indices(len(self.feature_info), indices)
        final, maps = self.forward_stages(x, take, max_index if stop_early else -1, norm)
        return maps if intermediates_only else (final, maps)

    def prune_intermediate_layers(
        self, indices: Indices = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Remove what the stages ``indices`` do not need; returns their absolute indices (timm's method).

        The stages after the last one asked for go (and then the head, sized for the last
        stage); ``prune_head`` removes the head (classifiers, the head's hidden layers, the
        auxiliary classifiers) in any case. ``forward`` then returns the last kept feature
        map. ``prune_norm`` is accepted for timm's signature: a cnnzoo stage output already
        includes the normalisation it needs.
        """
        take, max_index = feature_take_indices(len(self.feature_info), indices)
        if max_index < len(self.feature_info) - 1:
            self.feature_info = self.feature_info[: max_index + 1]
            self.prune_stages_after(max_index)
            self.num_features = self.feature_info[-1]["num_chs"]
            prune_head = True  # the head reads the last stage's width
        if prune_head and not self.head_pruned:
            self.reset_classifier(0)
            self.drop_head_layers()
            self.head_hidden_size = self.num_features
            self.head_pruned = True
        return take

    def prune_stages_after(self, index: int) -> None:
        """Remove the trunk's layers after stage ``index``: cut the ``features`` stack, or make
        the network's later trunk layers identities (their names stay, as timm's pruning keeps them)."""
        end, last = self.feature_ends[index], self.feature_ends[-1]
        if hasattr(self, "features"):
            self.features = self.features[: end + 1]
        else:
            for name in self._trunk_names()[1][end + 1 : last + 1]:
                setattr(self, name, nn.Identity())
        self._map_stages()

    def drop_head_layers(self) -> None:
        """Remove the head's layers other than the classifiers (prune_intermediate_layers)."""

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
        training outputs keep one shape). ``global_pool`` (timm's argument) sets the head's
        pooling, one of ``global_pools``; None keeps the current one. ``reset_classifier(0, "")``
        makes the network end at the unpooled feature map, N x ``num_features`` x h x w.
        """
        self._check_head(num_classes, self.global_pool if global_pool is None else global_pool)
        if global_pool is not None:
            self._install_pool(global_pool)
        self.num_classes = num_classes
        self._rebuild_classifiers()

    def set_global_pool(self, global_pool: str) -> None:
        """Set the head's pooling to one of ``global_pools`` (timm's ``global_pool``).

        The classifiers are kept, and rebuilt only where their input width changes (to or from
        ``"catavgmax"``, which doubles ``head_hidden_size``); ``""`` needs ``num_classes=0``.
        """
        self._check_head(self.num_classes, global_pool)
        width = self.head_hidden_size
        self._install_pool(global_pool)
        if self.head_hidden_size != width:
            self._rebuild_classifiers()

    def _check_head(self, num_classes: int, global_pool: Any) -> None:
        if self.head_pruned:
            raise InvalidArgumentError(
                f"{self.arch_name}'s head was removed (prune_intermediate_layers): "
                "build the model again for a classifier"
            )
        check_model_args(num_classes, self.in_chans)
        pools = type(self).global_pools
        if not isinstance(global_pool, str) or global_pool not in pools:
            note = f" ({type(self).global_pool_note})" if type(self).global_pool_note else ""
            raise InvalidArgumentError(
                f"{self.arch_name} takes global_pool {' or '.join(map(repr, pools))}{note}; got {global_pool!r}"
            )
        if global_pool == "" and num_classes:
            # timm's rule: an unpooled map has no fixed width for a classifier to read
            raise InvalidArgumentError(
                f"global_pool='' leaves {self.arch_name}'s feature map unpooled, which no classifier reads: "
                f"give num_classes=0 with it (got {num_classes})"
            )

    def _install_pool(self, global_pool: str) -> None:
        # the default average of a family without a pooling module stays a function (its module tree unchanged)
        if hasattr(self, "avgpool") or global_pool != "avg":
            self.avgpool = make_global_pool(global_pool, self.pool_output_size).train(self.training)
        self.global_pool = global_pool
        if "catavgmax" in type(self).global_pools:  # the main classifier reads the pooled map itself
            main = next(iter(self.classifier_widths))
            self.classifier_widths[main] = self.head_hidden_size = self.num_features * pool_feat_mult(global_pool)

    def _rebuild_classifiers(self) -> None:
        for name, width in self.classifier_widths.items():
            parent, _, attr = name.rpartition(".")
            # setattr also replaces a Sequential's element ("classifier.6": attribute "6")
            setattr(self.get_submodule(parent) if parent else self, attr, self._build_classifier(width))


def class_contract_problems(cls: type) -> list[str]:
    """What the network class ``cls`` lacks, in words (empty: nothing); checked when a subclass is defined.

    Each method of :data:`CONTRACT_METHODS` that the class
    overrides takes ZooModel's parameters, in order and with their defaults (it may add
    parameters with defaults after them); the constructor accepts :data:`CONSTRUCTOR_KEYWORDS`
    by keyword.
    """
    problems = []
    unknown_pools = set(getattr(cls, "global_pools", ())) - set(GLOBAL_POOLS)
    if unknown_pools:
        problems.append(f"global_pools {sorted(unknown_pools)} are not pooling types of timm's {GLOBAL_POOLS}")
    for name in CONTRACT_METHODS:
        own = vars(cls).get(name)
        if not callable(own):
            continue
        base, mine = inspect.signature(getattr(ZooModel, name)), inspect.signature(own)
        if not _accepts(mine, base):
            problems.append(f"{name}{mine} must take the parameters of ZooModel.{name}{base}")
    init = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    if not any(p.kind is p.VAR_KEYWORD for p in init.values()):
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)
        missing = [k for k in CONSTRUCTOR_KEYWORDS if k not in init or init[k].kind in positional]
        if missing:
            problems.append(f"__init__ must accept {', '.join(missing)} by keyword (create_model passes them)")
    return problems


def _accepts(mine: inspect.Signature, base: inspect.Signature) -> bool:
    # base's parameters first, same names, kinds and defaults-or-not; any others optional
    theirs, own = list(base.parameters.values()), list(mine.parameters.values())
    same = len(own) >= len(theirs) and all(
        a.name == b.name and a.kind == b.kind and (a.default is a.empty) == (b.default is b.empty)
        for a, b in zip(own, theirs)
    )
    return same and all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in own[len(theirs) :]
    )


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


def googlenet_loss(
    output: Any,
    target: torch.Tensor,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    aux_weight: float = 0.3,
) -> torch.Tensor:
    """The training loss of any model output: main loss plus ``aux_weight`` times each auxiliary loss.

    Szegedy et al. 2014, Sec. 5: "During training, their loss gets added to the total loss
    of the network with a discount weight (the losses of the auxiliary classifiers were
    weighted by 0.3)". The auxiliary logits are the output's ``.aux_logits``
    (:class:`~cnnzoo.models.googlenet.GoogLeNetOutputs`); for a plain Tensor (every other
    model, GoogLeNet in eval mode or with ``aux_logits=False``) it is
    ``criterion(output, target)``. ``target`` is class indices or (mixup, cutmix) class
    probabilities; ``criterion`` defaults to cross-entropy.
    """
    criterion = criterion or nn.functional.cross_entropy
    if isinstance(output, torch.Tensor):
        return criterion(output, target)
    logits = getattr(output, "logits", None)
    if not isinstance(logits, torch.Tensor):
        raise InvalidArgumentError(
            f"a model output must be a Tensor or have .logits (as GoogLeNetOutputs), got {type(output).__name__}"
        )
    loss = criterion(logits, target)
    aux: Sequence[torch.Tensor | None] = getattr(output, "aux_logits", ())
    for a in aux:
        if a is not None:
            loss = loss + aux_weight * criterion(a, target)
    return loss
