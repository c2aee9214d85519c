"""Key maps: published state-dict layouts -> cnnzoo module names.

Where torchvision has a model, our module names are torchvision's and no map is needed.
The maps here cover layouts that differ (timm's legacy SENets, timm's ResNet v2 and
MobileNet v1, torchvision's pre-0.3 DenseNet files). Each map is a pure function from a
state dict to a state dict, registered under a source-layout name with ``@key_map``;
``weights.py`` picks one by the catalogue entry's ``layout`` or by detecting the keys.
They live apart from ``weights.py`` so that file stays the catalogue and the I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["KEY_MAPS", "key_map"]

StateDict = dict[str, torch.Tensor]
KEY_MAPS: dict[str, Callable[[StateDict], StateDict]] = {}


def key_map(layout: str) -> Callable[[Callable[[StateDict], StateDict]], Callable[[StateDict], StateDict]]:
    """Register ``fn`` as the map from source layout ``layout`` to cnnzoo names."""

    def decorate(fn: Callable[[StateDict], StateDict]) -> Callable[[StateDict], StateDict]:
        if layout in KEY_MAPS:
            raise ValueError(f"key map '{layout}' is defined twice")
        KEY_MAPS[layout] = fn
        return fn

    return decorate
