"""cnnzoo: the landmark convolutional networks in PyTorch.

``import cnnzoo`` registers every model (building none) and gives the registry API;
the trainer, the analysis tools and the weight machinery are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import models  # noqa: F401  (registers every model)
from .errors import CnnzooError
from .models import GoogLeNetOutputs, googlenet_loss
from .models.registry import list_models, register_model

if TYPE_CHECKING:  # imported on first use (below), as the weights machinery it brings
    from .factory import create_model as create_model

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access (PEP 562) so that
# `import cnnzoo` stays as cheap as `import torch` (torchvision, the weights, data and
# training code are not loaded until used).
_LAZY = {
    # the registry needs no weights: create_model brings them in when it is first used
    "create_model": "cnnzoo.factory",
    # timm's Hub layout, written (read back by create_model("local-dir:DIR"))
    "save_pretrained": "cnnzoo.weights.hubformat",
    "push_to_hub": "cnnzoo.weights.hubformat",
    # training: one loop from a notebook to torchrun
    "Trainer": "cnnzoo.training",
    "TrainConfig": "cnnzoo.training",
    "train": "cnnzoo.training",
    "compute_loss": "cnnzoo.training",
    "TrainResult": "cnnzoo.training",
    "evaluate": "cnnzoo.training",
    "evaluate_checkpoint": "cnnzoo.training",
    # inspecting networks: the lecture-hall tools, and the apps built on them
    "summary": "cnnzoo.analysis",
    "model_info": "cnnzoo.analysis",  # the registry's record with the depth (measured when read)
    "network_depth": "cnnzoo.analysis",
    "grad_cam": "cnnzoo.analysis",
    "layer_chart": "cnnzoo.apps",
    "write_samples": "cnnzoo.apps",
    "receptive_field": "cnnzoo.analysis",
    "count_flops": "cnnzoo.analysis",
    "saliency": "cnnzoo.analysis",
    "features": "cnnzoo.analysis",
    "stage_names": "cnnzoo.analysis",
    "predict": "cnnzoo.apps",
    "benchmark": "cnnzoo.apps",
    "compare": "cnnzoo.apps",
    "accuracy_chart": "cnnzoo.apps",
    "export": "cnnzoo.apps",
    # the weights catalogue and its verified cache
    "list_weights": "cnnzoo.weights",
    "weights_info": "cnnzoo.weights",
    "download_weights": "cnnzoo.weights",
}

__all__ = [
    "CnnzooError",
    "GoogLeNetOutputs",
    "googlenet_loss",
    "list_models",
    "register_model",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnzoo' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
