"""Every registered network, freshly built, gives finite, moderate outputs in train and eval mode.

In eval mode a fresh BatchNorm (running mean 0, variance 1, weight 1) is the identity, so each
residual block adds a branch as large as its input: the variance doubles per block (He et al.
2016's x_{l+1} = x_l + F(x_l) with Kaiming-initialised F), and ResNet-110's logits reach about
1e5, ResNet-1202's 1e16. Zeroing the last BatchNorm of each branch (Goyal et al. 2017, Sec. 5.1;
timm's zero_init_last, cnnzoo's default zero_init_residual) makes each block the identity at the
start; loaded weights overwrite it, which the last tests here check against torchvision.

The slow tier runs every registered network at its default input, ResNet-1202 included; the fast
tier runs one network per family (the small member of :data:`helpers.REPRESENTATIVES`) and the deep
CIFAR ResNets at 64 x 64 at most.
"""

import pytest
import torch
import torchvision
from helpers import REPRESENTATIVES, randomise

import cnnzoo

#: a fresh classifier's logits are O(1) (every registered network stays under 6 at seed 0); a
#: network whose output grows with depth does not (ResNet-32 without zero-init: 26, ResNet-110: 1e5)
_BOUND = 20.0


def _fast_names() -> set[str]:
    names = set(cnnzoo.list_models())
    family = {n: cnnzoo.model_info(n)["family"] for n in names}
    chosen: dict[str, str] = {}
    for n in [*REPRESENTATIVES, *cnnzoo.list_models()]:  # a family without a representative: its first model
        if n in names:
            chosen.setdefault(family[n], n)
    # the depth that overflowed: the deep CIFAR ResNets, and the pre-activation (v2) branch
    return set(chosen.values()) | {"resnet56", "resnet110", "resnet18v2"}


_FAST = _fast_names()


def _outputs(out) -> list[torch.Tensor]:
    # GoogLeNet in train mode gives its auxiliary logits beside the main ones
    return [out] if isinstance(out, torch.Tensor) else [t for t in out if isinstance(t, torch.Tensor)]


def _largest_logit(model: torch.nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        outs = _outputs(model(x))
    assert outs
    return max(o.abs().max().item() if torch.isfinite(o).all() else float("inf") for o in outs)


def _default_input(name: str, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, *cnnzoo.model_info(name)["input_size"])


def _small_input(name: str, batch: int = 2) -> torch.Tensor:
    # the growth is per pixel and per block, not per image size: 64 x 64 at most keeps the fast tier cheap
    info = cnnzoo.model_info(name)
    c, h, w = info["input_size"]
    if info["fixed_input_size"]:
        return torch.randn(batch, c, h, w)
    side = max(min(h, 64), info["min_input_size"][-1])
    return torch.randn(batch, c, side, side)


#: every network at its default input in the slow tier; the fast tier's at a small input
_CASES = [pytest.param(n, "default", marks=pytest.mark.slow) for n in cnnzoo.list_models()]
_CASES += [pytest.param(n, "small") for n in sorted(_FAST)]


@pytest.mark.parametrize("name,size", _CASES)
def test_fresh_model_is_finite_and_moderate_in_train_and_eval_mode(name, size):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name)
    x = _default_input(name) if size == "default" else _small_input(name)
    for train in (True, False):
        model.train(train)
        largest = _largest_logit(model, x)
        assert largest < _BOUND, f"{name} in {'train' if train else 'eval'} mode: largest |logit| {largest:.3g}"


def test_fast_tier_covers_every_family():
    families = {cnnzoo.model_info(n)["family"] for n in cnnzoo.list_models()}
    assert {cnnzoo.model_info(n)["family"] for n in _FAST} == families


@pytest.mark.parametrize("arg", ["zero_init_residual", "zero_init_last"])
def test_without_zero_init_a_deep_resnet_grows_past_the_bound(arg):
    """torchvision's initialisation (the option off) is what the bound catches: the check can fail."""
    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet110", **{arg: False}).eval()
    assert _largest_logit(model, _default_input("resnet110")) > 100 * _BOUND


def test_default_zeroes_the_last_norm_of_every_residual_branch_only():
    resnet, plain = cnnzoo.create_model("resnet20"), cnnzoo.create_model("plain20")
    assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for stage in (resnet.layer1, resnet.layer3) for b in stage)
    assert all(float(b.bn1.weight.detach().abs().sum()) > 0 for b in resnet.layer1)
    # a plain network has no branch to zero: its last norms start at one, as before
    assert all(bool((b.bn2.weight == 1).all()) for b in plain.layer1)


@pytest.mark.parametrize("arch", ["resnet18", "resnet18v2_like"])
def test_loaded_weights_are_unaffected_by_the_default(arch, tmp_path):
    """The state dict overwrites the zeroed norms: same outputs with the option on, off, or by default."""
    torch.manual_seed(0)
    if arch == "resnet18":
        # torchvision's network, randomised so that no norm is zero or one, is the reference
        ref = randomise(torchvision.models.resnet18(weights=None)).eval()
        name, x = "resnet18", torch.randn(2, 3, 32, 32)
    else:
        ref = randomise(cnnzoo.create_model("resnet18v2", zero_init_residual=False)).eval()
        name, x = "resnet18v2", torch.randn(2, 3, 32, 32)
    path = tmp_path / "weights.pth"
    torch.save(ref.state_dict(), path)
    with torch.no_grad():
        expected = ref(x)
        for kwargs in ({}, {"zero_init_residual": True}, {"zero_init_residual": False}):
            ours = cnnzoo.create_model(name, pretrained=str(path), **kwargs).eval()
            assert (ours(x) - expected).abs().max().item() == 0.0, kwargs
