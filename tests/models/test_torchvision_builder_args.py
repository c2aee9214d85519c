"""torchvision's builder arguments, with torchvision's meanings: compared with torchvision's own builders.

``googlenet(init_weights=...)``, ``resnet*(norm_layer=...)``, ``mobilenet_v2(norm_layer=...,
inverted_residual_setting=..., width_mult=..., round_nearest=...)``: where the argument shapes
the network, torchvision's state dict loads into cnnzoo's by identity and the outputs agree.
"""

import pytest
import torch
import torchvision
from helpers import n_params
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError

#: a short Table 2: three stages, strides 1, 2, 2 (expansion, channels, blocks, stride)
SHORT_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [4, 40, 1, 2]]


def _group_norm(channels):
    return nn.GroupNorm(8, channels)  # Wu and He 2018; every width here is a multiple of 8


def _same_network(ours, theirs, size=32):
    """torchvision's random weights load into ours by identity (strict) and give the same outputs."""
    assert n_params(ours) == n_params(theirs)
    with torch.no_grad():
        for p in theirs.parameters():  # away from the initialisation, so that a swapped layer would show
            p.add_(torch.randn_like(p) * 0.02)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        want = theirs.eval()(x)
        assert want.abs().max() > 1e-3
        torch.testing.assert_close(ours.eval()(x), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm_layer", [None, _group_norm, nn.Identity])
def test_mobilenet_v2_setting_and_norm_layer_match_torchvision(norm_layer):
    kwargs = dict(inverted_residual_setting=SHORT_SETTING, width_mult=0.5, round_nearest=8, norm_layer=norm_layer)
    ours = cnnzoo.create_model("mobilenet_v2", num_classes=7, **kwargs)
    theirs = torchvision.models.mobilenet_v2(num_classes=7, **kwargs)
    assert len(ours.features) == 2 + sum(n for _, _, n, _ in SHORT_SETTING)
    if norm_layer is nn.Identity:
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in ours.modules())
    _same_network(ours, theirs)
    # the stage outputs follow the setting: the last layer at strides 2 (stem and stage 1), 4 and 8,
    # which is the 1x1 convolution to 1280
    assert [(f["reduction"], f["num_chs"]) for f in ours.feature_info] == [(2, 8), (4, 16), (8, 1280)]


def test_resnet_norm_layer_matches_torchvision():
    ours = cnnzoo.create_model("resnet18", num_classes=5, norm_layer=_group_norm)
    theirs = torchvision.models.resnet18(num_classes=5, norm_layer=_group_norm)
    assert sum(isinstance(m, nn.GroupNorm) for m in ours.modules()) == 20  # 2 per block, 3 shortcuts, the stem
    assert not any(isinstance(m, nn.BatchNorm2d) for m in ours.modules())
    _same_network(ours, theirs)


def test_resnet_identity_norm_builds_and_runs_also_zero_initialised():
    """nn.Identity has no weight to zero: zero_init_residual leaves such a block as drawn, as torchvision."""
    model = cnnzoo.create_model("resnet20", norm_layer=nn.Identity, zero_init_residual=True).eval()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    v2 = cnnzoo.create_model("resnet18v2", num_classes=3, norm_layer=_group_norm)
    assert isinstance(v2.final_bn, nn.GroupNorm) and isinstance(v2.layer1[0].bn1, nn.GroupNorm)


def test_googlenet_init_weights_as_torchvision():
    """False: PyTorch's default layer initialisation, drawn in torchvision's module order (equal weights
    under one seed); True and None: the truncated normal of std 0.01 (torchvision's init_weights=True)."""
    torch.manual_seed(0)
    ours = cnnzoo.create_model("googlenet", num_classes=10, aux_logits=False, init_weights=False)
    torch.manual_seed(0)
    theirs = torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=False)
    theirs_state = theirs.state_dict()
    assert ours.state_dict().keys() == theirs_state.keys()
    assert all(torch.equal(v, theirs_state[k]) for k, v in ours.state_dict().items())
    conv = ours.conv1.conv.weight
    assert conv.std() > 0.03  # kaiming-uniform over 3 x 7 x 7 inputs: std 1/sqrt(3 * 147) = 0.048
    drawn = cnnzoo.create_model("googlenet", num_classes=10, aux_logits=False, init_weights=True)
    assert 0.008 < drawn.conv1.conv.weight.std() < 0.012 and 0.008 < drawn.fc.weight.std() < 0.012
    with torch.device("meta"):  # None is torchvision's default, which draws (without its FutureWarning here)
        assert cnnzoo.create_model("googlenet", init_weights=None).draws_init


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("googlenet", {"init_weights": "yes"}, "init_weights"),
        ("resnet20", {"norm_layer": "batchnorm"}, "norm_layer must be a callable"),
        ("resnet20", {"norm_layer": lambda c: c}, r"must return an nn\.Module"),
        ("mobilenet_v2", {"norm_layer": 3}, "norm_layer must be a callable"),
        ("mobilenet_v2", {"inverted_residual_setting": []}, "inverted_residual_setting"),
        ("mobilenet_v2", {"inverted_residual_setting": [[1, 16, 1]]}, r"\[t, c, n, s\]"),
        ("mobilenet_v2", {"inverted_residual_setting": [[1, 16, 1, 1], [6, 24, 2, 3]]}, "stride 1 or 2"),
        ("mobilenet_v2", {"inverted_residual_setting": [[6, 24, 0, 2]]}, "inverted_residual_setting"),
        ("mobilenet_v2", {"inverted_residual_setting": "1,16,1,1"}, "inverted_residual_setting"),
        ("mobilenet_v2", {"round_nearest": 0}, "round_nearest"),
    ],
)
def test_bad_builder_arguments_are_refused(name, kwargs, match):
    with torch.device("meta"), pytest.raises(InvalidArgumentError, match=match):
        cnnzoo.create_model(name, **kwargs)
