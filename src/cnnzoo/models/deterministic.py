"""Deterministic stand-ins for the layers whose CUDA backward PyTorch cannot make deterministic.

Under ``torch.use_deterministic_algorithms(True)`` PyTorch raises, for a CUDA tensor, in the
backward of adaptive average pooling (unless the output is 1x1, which it computes as a mean)
and of 3-D average pooling, which ``F.local_response_norm`` runs on the squared input (PyTorch
docs, ``torch.use_deterministic_algorithms``). So AlexNet's 6x6 and VGG's 7x7 pools,
GoogLeNet's auxiliary 4x4 pools and every LRN layer (AlexNet, ZFNet, VGG A-LRN, the paper
GoogLeNet) would stop a ``--deterministic`` run on a GPU at its first backward.

The stand-ins compute the same functions from matrix products and sums of shifted slices,
whose CUDA kernels are deterministic (cuBLAS, once ``CUBLAS_WORKSPACE_CONFIG`` is set, which
:func:`~cnnzoo.training.setup.process_settings` does for a deterministic run). They subclass
the modules they replace and hold no parameters or buffers, so ``isinstance`` checks and the
state dict stay as they were; the printed network names them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MatrixAdaptiveAvgPool2d", "SummedLocalResponseNorm", "use_deterministic_layers"]


def _pool_matrix(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """(n_out, n_in): row i averages input cells floor(i n_in / n_out) .. ceil((i+1) n_in / n_out) - 1,
    PyTorch's adaptive pooling bins."""
    i = torch.arange(n_out, device=like.device)
    start = torch.div(i * n_in, n_out, rounding_mode="floor")
    end = -torch.div(-(i + 1) * n_in, n_out, rounding_mode="floor")
    cols = torch.arange(n_in, device=like.device)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).to(like.dtype)


class MatrixAdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` as two matrix products, ``P_h @ x @ P_w^T``: the same bins and
    averages, with a deterministic backward on CUDA."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - nn.AdaptiveAvgPool2d's name
        size = self.output_size if isinstance(self.output_size, tuple) else (self.output_size, self.output_size)
        h, w = input.shape[-2:]
        out_h, out_w = size[0] or h, size[1] or w
        rows = _pool_matrix(h, out_h, input)
        cols = _pool_matrix(w, out_w, input)
        return torch.matmul(torch.matmul(rows, input), cols.transpose(0, 1))


class SummedLocalResponseNorm(nn.LocalResponseNorm):
    """``nn.LocalResponseNorm`` with the window over channels summed from shifted slices instead
    of a 3-D average pool: b = a / (k + alpha/n * sum of a^2 over n maps)^beta, zero-padded at
    the ends as PyTorch pads (Krizhevsky et al. 2012, Sec. 3.3)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - nn.LocalResponseNorm's name
        n, channels = self.size, input.shape[1]
        squares = input * input
        pads = [0, 0] * (input.dim() - 2) + [n // 2, (n - 1) // 2]
        padded = F.pad(squares, pads)
        window = padded[:, 0:channels]
        for j in range(1, n):
            window = window + padded[:, j : j + channels]
        return input / (window * (self.alpha / n) + self.k).pow(self.beta)


def use_deterministic_layers(model: nn.Module) -> list[str]:
    """Replace, in place, the layers of ``model`` whose CUDA backward is not deterministic by
    the stand-ins above; returns the names of those replaced. Adaptive pools to 1x1 stay
    (PyTorch computes them as a mean)."""
    replaced = []
    for name, module in list(model.named_modules()):
        new: nn.Module | None = None
        if type(module) is nn.AdaptiveAvgPool2d:
            size = module.output_size
            if size not in (1, (1, 1)):
                new = MatrixAdaptiveAvgPool2d(size)
        elif type(module) is nn.LocalResponseNorm:
            new = SummedLocalResponseNorm(module.size, module.alpha, module.beta, module.k)
        if new is None:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
        replaced.append(name)
    return replaced
