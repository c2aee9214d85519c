"""Pretrained weights: the catalogue, download/cache/verify, key maps and adaptation.

(Being built under the weights issue; until then no model has a weight tag.)
"""

from __future__ import annotations

from typing import Any

from .errors import UnknownWeightsError

__all__ = ["list_tags", "resolve", "load_pretrained"]

CATALOGUE: dict[str, dict[str, Any]] = {}


def list_tags(model_name: str) -> list[str]:
    return sorted(t for t in CATALOGUE if t.split(".")[0] == model_name)


def resolve(model_name: str, tag: str | None, pretrained: Any) -> Any:
    raise UnknownWeightsError(f"no pretrained weights are catalogued for '{model_name}' yet")


def load_pretrained(model: Any, info: Any, entry: Any) -> dict[str, Any]:
    raise UnknownWeightsError("no pretrained weights are catalogued yet")
