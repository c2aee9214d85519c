"""What cnnzoo knows about a registered model, in one record: :func:`model_info`.

The registry's facts (paper, authors, year, the input the network was designed for), the
network's own (minimum input, first convolution, classifiers, feature widths: read from a
copy built on the meta device, never kept by hand), the catalogued weight tags and the depth
as the papers count it (:mod:`~cnnzoo.analysis.depth`), measured only when it is read.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ..models.build import split_model_name
from ..models.registry import get_model_entry
from ..weights.catalogue import list_tags
from .depth import network_depth

__all__ = ["model_info", "ModelRecord"]


def model_info(name: str) -> dict[str, Any]:
    """Metadata of a registered model: family, paper, authors, year, input sizes, weight tags, depth.

    The registry's facts (paper, design input size, default classes) and the network's own
    (minimum input size, first convolution, classifiers, feature widths), with the catalogued
    weight tags, the default first, and the ``depth``: weight layers on the longest
    input-to-output path, as the papers count them (``model_info("googlenet")["depth"] == 22``),
    measured when first read. A weight tag in ``name`` (``"resnet50.tv2_in1k"``) is ignored.
    """
    base, _ = split_model_name(name)
    record = get_model_entry(base).as_dict()
    record.update(_architecture(base))
    tags = list_tags(base)
    record["pretrained_tags"] = tags
    record["has_pretrained"] = bool(tags)
    return ModelRecord(record, base)


@functools.cache
def _architecture(name: str) -> dict[str, Any]:
    # what the network itself says, read once from a copy built on the meta device
    try:
        with torch.device("meta"):
            model = get_model_entry(name).constructor()
    except Exception:  # noqa: BLE001 - a user's model that cannot be built without arguments
        return {}
    cfg = dict(getattr(model, "pretrained_cfg", {}))
    return {key: cfg.get(key) for key in ("min_input_size", "fixed_input_size", "first_conv", "classifier")} | {
        "num_features": getattr(model, "num_features", None),
        "head_hidden_size": getattr(model, "head_hidden_size", None),
    }


class ModelRecord(dict):  # type: ignore[type-arg]
    """:func:`model_info`'s record: a plain dict whose ``"depth"`` is measured on first use.

    Measuring the depth runs the network once on the meta device (a fraction of a second for
    ResNet-152), so the record fills it in only when it is read, listed or printed:
    ``info["family"]`` costs nothing more than before.
    """

    def __init__(self, record: dict[str, Any], name: str) -> None:
        super().__init__(record)
        self._name = name

    def _fill(self) -> None:
        if not dict.__contains__(self, "depth"):
            self["depth"] = _depth_of_model(self._name)

    def __missing__(self, key: str) -> Any:
        if key != "depth":
            raise KeyError(key)
        self._fill()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key == "depth" else dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        return key == "depth" or dict.__contains__(self, key)

    def __iter__(self) -> Any:
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._fill()
        return dict.keys(self)

    def values(self) -> Any:
        self._fill()
        return dict.values(self)

    def items(self) -> Any:
        self._fill()
        return dict.items(self)

    def copy(self) -> dict[str, Any]:
        self._fill()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._fill()
        if isinstance(other, ModelRecord):  # two records compare with both depths in
            other._fill()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self._fill()
        return dict.__repr__(self)


@functools.cache
def _depth_of_model(name: str) -> int:
    return network_depth(name)
