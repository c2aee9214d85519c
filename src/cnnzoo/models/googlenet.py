"""(being written)"""
from typing import NamedTuple
import torch
class GoogLeNetOutputs(NamedTuple):
    logits: torch.Tensor
    aux1: torch.Tensor | None
    aux2: torch.Tensor | None
def googlenet_loss(outputs, target, criterion=None, aux_weight=0.3):
    raise RuntimeError("being written")
