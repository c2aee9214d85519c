"""The deterministic stand-ins for adaptive pooling and LRN (cnnzoo.models.deterministic) compute
what PyTorch's layers compute, forward and backward; tests/training/test_cuda.py trains with them on a GPU."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.deterministic import MatrixAdaptiveAvgPool2d, SummedLocalResponseNorm, use_deterministic_layers


def _forward_backward(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = module(x)
    (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
    assert x.grad is not None
    return y.detach(), x.grad


@pytest.mark.parametrize(
    "size, out",
    [((14, 14), (4, 4)), ((13, 6), (6, 6)), ((7, 7), (7, 7)), ((1, 1), (7, 7)), ((5, 9), (None, 3)), ((8, 8), 3)],
)
def test_matrix_pool_is_adaptive_pooling(size, out):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    want = _forward_backward(nn.AdaptiveAvgPool2d(out), x)
    got = _forward_backward(MatrixAdaptiveAvgPool2d(out), x)
    for a, b in zip(want, got):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 5e-4, 0.75, 2.0), (4, 1e-4, 0.75, 1.0), (3, 0.5, 0.5, 1.0)])
def test_summed_lrn_is_pytorchs_lrn(size, alpha, beta, k):
    x = torch.randn(2, 7, 5, 4, dtype=torch.float64) * 3
    want = _forward_backward(nn.LocalResponseNorm(size, alpha, beta, k), x)
    got = _forward_backward(SummedLocalResponseNorm(size, alpha, beta, k), x)
    for a, b in zip(want, got):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize(
    "name, kwargs, size, swapped",
    [
        ("alexnet_original", {}, 127, ["features.2", "features.6", "avgpool"]),
        ("googlenet", {"variant": "paper"}, 224, ["lrn1", "lrn2", "aux1.avgpool", "aux2.avgpool"]),
    ],
)
def test_networks_are_unchanged_by_the_swap(name, kwargs, size, swapped):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=5, **kwargs).eval()
    twin = copy.deepcopy(model)
    assert use_deterministic_layers(twin) == swapped
    assert twin.state_dict().keys() == model.state_dict().keys()
    assert use_deterministic_layers(twin) == []  # the stand-ins are not replaced again
    x = torch.randn(1, 3, size, size)
    assert torch.allclose(model(x), twin(x), atol=1e-5)
    if name == "googlenet":  # the auxiliary heads run in training mode
        model.train(), twin.train()
        torch.manual_seed(1)
        a = model(x)
        torch.manual_seed(1)
        b = twin(x)
        assert all(torch.allclose(p, q, atol=1e-5) for p, q in zip(a.aux_logits, b.aux_logits))
