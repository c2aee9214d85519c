"""A freshly built network gives finite, moderate outputs in eval mode, at any depth.

In eval mode a fresh BatchNorm (running mean 0, variance 1, weight 1) is the identity, so
each residual block adds a branch as large as its input: the variance doubles per block
(He et al. 2016's x_{l+1} = x_l + F(x_l) with Kaiming-initialised F), 2^54 for ResNet-110
(logits ~1e9) and float32 overflow for ResNet-1202. Zeroing the last BatchNorm's weight of
each branch (Goyal et al. 2017, Sec. 5.1; timm's zero_init_last, torchvision's
zero_init_residual) makes each block the identity at the start; loaded weights overwrite it.
"""

import pytest
import torch

import cnnzoo

_BOUND = 100.0  # a fresh classifier's logits are O(1); 2^27-fold growth is not


def _max_logit(name, **kwargs):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    return out.abs().max().item() if torch.isfinite(out).all() else float("inf")


@pytest.mark.xfail(strict=True, reason="fresh ResNets do not zero the last BN of each residual branch by default")
@pytest.mark.parametrize("name", ["resnet56", "resnet110", pytest.param("resnet1202", marks=pytest.mark.slow)])
def test_fresh_deep_resnet_is_moderate_in_eval_mode(name):
    assert _max_logit(name) < _BOUND


@pytest.mark.parametrize("name", ["resnet56", "resnet110"])
def test_zero_init_last_keeps_deep_resnets_moderate(name):
    assert _max_logit(name, zero_init_last=True) < _BOUND
