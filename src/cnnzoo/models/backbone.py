"""Networks as backbones: the stage outputs of a model, as timm's ``features_only`` gives them.

Every network declares ``feature_info``: one ``dict(num_chs, reduction, module)`` per stage
output, in forward order (``module`` names the layer whose output the map is; ``reduction``
is its stride with respect to the input). :func:`feature_take_indices` reads the
``indices`` argument of ``forward_intermediates`` and ``prune_intermediate_layers``;
:class:`FeatureInfo` is timm's accessor of the stages a feature extractor returns;
:class:`FeatureListNet`, :class:`FeatureDictNet` and :class:`FeatureGetterNet` are what
``create_model(name, features_only=True)`` builds: the network without its head, whose
forward returns the chosen stage outputs.

No ``from __future__ import annotations`` here: TorchScript and torch.fx read the
annotations of ``forward`` at run time.
"""

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import InvalidArgumentError, shown
from .arguments import fits

if TYPE_CHECKING:
    from .base import ZooModel

__all__ = [
    "FeatureInfo",
    "FeatureListNet",
    "FeatureDictNet",
    "FeatureGetterNet",
    "feature_take_indices",
]

#: what ``indices`` may be: None (all), n (the last n) or a sequence of indices (negative from the end)
Indices = int | Sequence[int] | None


def feature_take_indices(num_features: int, indices: Indices = None) -> tuple[list[int], int]:
    """The absolute stage indices ``indices`` selects, and the largest of them (timm's rule).

    ``None`` takes every stage, an integer ``n`` the last ``n``, a sequence the stages it
    lists (negative values count from the end, as in Python). Out-of-range or repeated
    indices raise :class:`~cnnzoo.errors.InvalidArgumentError`.
    """
    if indices is None:
        indices = num_features
    if not fits(indices, Indices):  # a float, a string, a generator (read once, by whom?) ...
        raise InvalidArgumentError(f"indices must be an int or a list or tuple of ints, got {shown(indices)}")
    # n: the last n stages; an n beyond the stages starts at -1 (refused below, and never a list of n items)
    take = (
        list(range(max(num_features - indices, -1), num_features))
        if isinstance(indices, int)
        else [num_features + i if i < 0 else i for i in indices]
    )
    if not take or len(set(take)) != len(take) or not all(0 <= t < num_features for t in take):
        raise InvalidArgumentError(
            f"indices={shown(indices)} must choose different stages of this network's {num_features}: the last n "
            f"(n in 1..{num_features}), or a list of stage indices in 0..{num_features - 1} (or -{num_features}..-1)"
        )
    return take, max(take)


class FeatureInfo:
    """The stages a feature extractor returns: timm's ``FeatureInfo`` interface.

    ``channels()``, ``reduction()`` and ``module_name()`` give the value of each returned
    stage (``out_indices``); with ``idx`` (an index or a list of indices into all stages)
    those stages instead. ``info[i]`` / ``len(info)`` address all stages.
    """

    def __init__(self, feature_info: Sequence[dict[str, Any]], out_indices: Sequence[int]) -> None:
        self.info = copy.deepcopy(list(feature_info))  # a network's, which its build checked (ZooModel)
        self.out_indices = tuple(out_indices)

    def from_other(self, out_indices: Sequence[int]) -> "FeatureInfo":
        """The same stages, returning ``out_indices``."""
        return FeatureInfo(self.info, out_indices)

    def get(self, key: str, idx: int | Sequence[int] | None = None) -> Any:
        """``key`` of each returned stage (``idx`` None), of stage ``idx``, or of the stages in ``idx``."""
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, (list, tuple)):
            return [self.info[i][key] for i in idx]
        return self.info[idx][key]  # type: ignore[index]

    def get_dicts(self, keys: Sequence[str] | None = None, idx: int | Sequence[int] | None = None) -> Any:
        """The records (or their ``keys``) of the returned stages, or of ``idx``."""

        def pick(i: int) -> dict[str, Any]:
            return dict(self.info[i]) if keys is None else {k: self.info[i][k] for k in keys}

        if idx is None:
            return [pick(i) for i in self.out_indices]
        if isinstance(idx, (list, tuple)):
            return [pick(i) for i in idx]
        return pick(idx)  # type: ignore[arg-type]

    def channels(self, idx: int | Sequence[int] | None = None) -> Any:
        """Channels of each returned map (``num_chs``)."""
        return self.get("num_chs", idx)

    def reduction(self, idx: int | Sequence[int] | None = None) -> Any:
        """Stride of each returned map with respect to the input (``reduction``)."""
        return self.get("reduction", idx)

    def module_name(self, idx: int | Sequence[int] | None = None) -> Any:
        """Name of the layer whose output each returned map is (``module``)."""
        return self.get("module", idx)

    def __getitem__(self, item: int) -> dict[str, Any]:
        return self.info[item]

    def __len__(self) -> int:
        return len(self.info)

    def __repr__(self) -> str:
        return f"FeatureInfo(out_indices={self.out_indices}, info={self.info})"


class FeatureListNet(nn.Module):
    """A network without its head whose forward returns the stage outputs ``out_indices``.

    What ``create_model(name, features_only=True, out_indices=...)`` returns (timm's class
    name). The wrapped network (``.model``) is pruned with its
    ``prune_intermediate_layers``: the classifier and the hidden layers of the head go, and
    so do the stages after the last one returned; its weights are otherwise untouched, so
    pretrained weights loaded before wrapping stay. ``feature_info`` is a
    :class:`FeatureInfo`; ``norm`` is ``forward_intermediates``' argument. Scripts with
    TorchScript, traces with torch.fx and compiles without graph breaks.
    """

    def __init__(self, model: "ZooModel", out_indices: Indices = None, norm: bool = False) -> None:
        super().__init__()
        take = model.prune_intermediate_layers(out_indices, prune_head=True)
        self.model: ZooModel = model
        self.out_indices: list[int] = list(take)
        self.stop_index = max(take)
        self.norm = bool(norm)
        self.feature_info = FeatureInfo(model.feature_info, take)
        cfg = {
            k: v for k, v in getattr(model, "pretrained_cfg", {}).items() if k not in ("num_classes", "classifier")
        }  # timm's pretrained_cfg_for_features
        setattr(self, "pretrained_cfg", cfg)  # noqa: B010 - a plain attribute, not a module
        setattr(self, "default_cfg", cfg)  # noqa: B010

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_stages(x, self.out_indices, self.stop_index, self.norm)[1]


class FeatureDictNet(FeatureListNet):
    """:class:`FeatureListNet` returning ``{str(index): map}`` (``create_model(..., feature_cls="dict")``).

    The keys are the stage indices as strings, timm's ``FeatureDictNet`` keys and what
    torchvision's ``FeaturePyramidNetwork`` takes directly.
    """

    def __init__(self, model: "ZooModel", out_indices: Indices = None, norm: bool = False) -> None:
        super().__init__(model, out_indices, norm)
        self.out_keys: list[str] = [str(i) for i in self.out_indices]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        maps = self.model.forward_stages(x, self.out_indices, self.stop_index, self.norm)[1]
        out: dict[str, torch.Tensor] = {}
        for key, m in zip(self.out_keys, maps):
            out[key] = m
        return out


class FeatureGetterNet(FeatureListNet):
    """:class:`FeatureListNet` whose forward is the network's ``forward_intermediates`` (``feature_cls="getter"``).

    timm's ``FeatureGetterNet``: the stages after the last one asked for are pruned, and
    ``forward`` returns ``model.forward_intermediates(x, indices, norm=norm,
    intermediates_only=True)``, the same maps as the list extractor.
    """

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.forward_intermediates(x, self.out_indices, norm=self.norm, intermediates_only=True)
