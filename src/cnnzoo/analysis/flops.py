"""Multiply-accumulates of a forward pass, measured with ``torch.utils.flop_counter``.

GFLOPs follow torchvision's convention (its weights' ``meta["_ops"]``, e.g. 4.089 for
ResNet-50): the number of multiply-accumulates (MACs) of the convolutions and matrix
products, in billions, i.e. one fused multiply-add counts as one operation. Batch norm,
activations, pooling and additions are not counted (well under 1 % of the total).
``FlopCounterMode`` counts a multiply-add as two FLOPs (the hardware convention), so its
total is halved; hardware FLOPs are ``2 * macs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from .trace import resolve_input_size, resolve_model, trace

__all__ = ["GFLOPS_DEFINITION", "FlopCount", "count_flops"]

GFLOPS_DEFINITION = (
    "multiply-accumulates of convolutions and matrix products / 1e9, as "
    "torchvision's weights meta '_ops' (hardware FLOPs = 2 x MACs)"
)


@dataclass(frozen=True)
class FlopCount:
    """Multiply-accumulates of one forward pass of one image, in total and per module/op.

    ``gflops`` is torchvision's "GFLOPS" (MACs / 1e9: one multiply-add = one operation);
    ``hardware_flops`` counts the multiply and the add separately (2 x MACs).
    """

    macs: int
    by_module: dict[str, int]
    by_op: dict[str, int]

    @property
    def gflops(self) -> float:
        return self.macs / 1e9

    @property
    def hardware_flops(self) -> int:
        return 2 * self.macs


def count_flops(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None) -> FlopCount:
    """MACs of one image's forward pass, measured with ``torch.utils.flop_counter.FlopCounterMode``.

    Per-module counts include submodules (module names as in the state dict). The total
    equals torchvision's published GFLOPS (e.g. resnet50 4.089) at the same input size.
    """
    model = resolve_model(model_or_name)
    tr = trace(model, resolve_input_size(model, input_size))
    return FlopCount(tr.macs, dict(tr.macs_by_module), dict(tr.macs_by_op))
