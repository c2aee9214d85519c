"""Depth as the papers count it: weight layers on the longest path from the input to the output.

"AlexNet has 8 layers", "VGG-16", "ResNet-152", "the 22 layers of GoogLeNet", "DenseNet-121"
all count the layers with weights (convolutions and fully connected layers) along the
deepest path through the network (Szegedy et al. 2014, Sec. 5: "The network is 22 layers
deep when counting only layers with parameters"; He et al. 2015, Table 1; Huang et al.
2017, Table 1). Pooling, normalisation and activations are not counted; parallel branches
(Inception's, a residual shortcut, a dense block's concatenations) count once, by their
deepest path.

The count is measured while the model runs, like the receptive fields: every tensor
computed from the input carries the number of weight layers behind it. An operation takes
the largest number among its inputs; a module with weights of its own (not a normalisation
layer) adds one to its output (LeNet-5's trainable subsampling too: LeCun et al. 1998, Sec.
II-B count 7 layers, "all of which contain trainable parameters"). A per-channel gate
computed from a globally pooled copy of a map (squeeze-and-excitation, Hu et al. 2018) rescales
the map without deepening it, as SE-ResNet-50 keeps ResNet-50's name: a 1x1 input broadcast
over a larger map is left out of the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["DepthMode", "bump", "depth_of", "is_weight_layer", "mark_depth", "network_depth"]

_ATTR = "_cnnzoo_depth"

#: modules whose parameters scale or shift activations rather than connect units
_NOT_WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
    nn.PReLU,
)


def is_weight_layer(module: nn.Module) -> bool:
    """Whether ``module`` counts as a layer of the network's depth: it holds parameters of its
    own (a convolution, a fully connected layer, a trainable subsampling) and is not a
    normalisation layer or a parametric activation."""
    return not isinstance(module, _NOT_WEIGHT_LAYERS) and any(True for _ in module.parameters(recurse=False))


def mark_depth(x: torch.Tensor, depth: int = 0) -> torch.Tensor:
    """Record that ``depth`` weight layers lie behind ``x`` (0 for the network input)."""
    setattr(x, _ATTR, depth)
    return x


def depth_of(x: Any) -> int | None:
    """The weight layers behind a tensor traced under :class:`DepthMode` (None: not from the input)."""
    return getattr(x, _ATTR, None) if isinstance(x, torch.Tensor) else None


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _is_gate(t: torch.Tensor, out: torch.Tensor) -> bool:
    # a (N, C, 1, 1) map or a vector broadcast over a larger (N, C, H, W) map
    if out.ndim < 3 or tuple(out.shape[-2:]) == (1, 1):
        return False
    return t.ndim < 3 or tuple(t.shape[-2:]) == (1, 1)


def deepest(inputs: Sequence[tuple[torch.Tensor, int]], out: torch.Tensor) -> int:
    """The depth of ``out`` computed from ``inputs`` (tensor, depth) by an op without weights."""
    main = [d for t, d in inputs if not _is_gate(t, out)]
    return max(main or [d for _, d in inputs])


class DepthMode(TorchFunctionMode):
    """While active, tensors computed from a :func:`mark_depth`-ed input carry their depth.

    Operations take the deepest input (a gate excepted, see the module docstring); the weight
    layers add one through :func:`bump`, which the caller runs on each weight layer's output
    (the trace's forward hooks do).
    """

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        known = [(t, d) for t in _tensors((args, kwargs)) if (d := depth_of(t)) is not None]
        if known:
            for o in _tensors(out):
                if not isinstance(o, nn.Parameter):
                    setattr(o, _ATTR, deepest(known, o))
        return out


def bump(inputs: Any, output: Any) -> None:
    """A weight layer ran: its output is one layer deeper than its deepest input."""
    known = [d for t in _tensors(inputs) if (d := depth_of(t)) is not None]
    if known:
        for o in _tensors(output):
            setattr(o, _ATTR, max(known) + 1)


def network_depth(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None) -> int:
    """Weight layers on the longest path from the input to the (eval-mode) output.

    The depth the papers give: ``network_depth("alexnet") == 8``, ``"vgg16"`` 16,
    ``"googlenet"`` 22 (its auxiliary classifiers are not on the inference path), ``"resnet152"``
    152, ``"densenet121"`` 121, ``"mobilenet_v1"`` 28. Works on any module (a block, a layer).
    """
    from .trace import resolve_input_size, resolve_model, trace

    model = resolve_model(model_or_name)
    return trace(model, resolve_input_size(model, input_size)).depth
