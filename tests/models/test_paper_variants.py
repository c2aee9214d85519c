"""The papers' own variants: the CIFAR ResNets and plain nets, GoogLeNet as published, VGG's
six columns, ZFNet's wider model. (Their parameter counts are in test_models' tables.)"""

from pathlib import Path

import pytest
import torch
from helpers import meta_input, meta_model, n_params, randomise
from torch import nn

import cnnzoo
from cnnzoo.errors import InputSizeError, InvalidArgumentError
from cnnzoo.models.resnet import ZeroPadShortcut
from cnnzoo.training.config import TrainConfig, load_config

# --------------------------------------------------------------------------- CIFAR ResNets


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110, 1202])
def test_cifar_resnets_are_6n_plus_2_layers(depth):
    """He et al. 2015, Sec. 4.2: a 3x3 conv, 3 stages of n two-layer blocks with 16/32/64 filters
    on 32/16/8-pixel maps, pooling and a 10-way FC: 6n + 2 weighted layers, parameter-free
    shortcuts (only the two widening ones do anything: subsample and pad)."""
    model = meta_model(f"resnet{depth}")
    n = (depth - 2) // 6
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == depth and model.num_classes == 10 and model.layer4 is None
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and isinstance(model.maxpool, nn.Identity)
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [n, n, n]
    assert [s[-1].conv2.out_channels for s in (model.layer1, model.layer2, model.layer3)] == [16, 32, 64]
    shortcuts = [m for m in model.modules() if isinstance(m, ZeroPadShortcut)]
    assert len(shortcuts) == 2 and model.layer2[0].downsample is shortcuts[0]
    assert not any("downsample" in k for k in model.state_dict())  # option A: no weights in shortcuts
    if depth <= 110:  # (ResNet-1202's forward on "meta" takes seconds; its layout is the same)
        maps = model.forward_intermediates(meta_input(2, 3, 32, 32), intermediates_only=True)
        assert [tuple(m.shape[1:]) for m in maps] == [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_zero_padding_shortcut_is_the_subsampled_identity_and_zeros():
    x = torch.randn(2, 16, 9, 9)
    y = ZeroPadShortcut(16, 32, stride=2)(x)
    assert y.shape == (2, 32, 5, 5)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2]) and not y[:, 16:].any()
    assert torch.equal(ZeroPadShortcut(16, 16)(x), x)
    with pytest.raises(InvalidArgumentError, match="narrow"):
        ZeroPadShortcut(32, 16)


def test_plain_networks_are_the_resnets_without_shortcuts():
    resnet, plain = randomise(cnnzoo.create_model("resnet20")), cnnzoo.create_model("plain20").eval()
    plain.load_state_dict(resnet.state_dict())  # the same weights: option A shortcuts have none
    assert n_params(plain) == n_params(resnet)
    x = torch.randn(2, 16, 8, 8)
    block, twin = plain.layer1[0], resnet.layer1[0]
    with torch.no_grad():
        branch = twin.bn2(twin.conv2(twin.relu(twin.bn1(twin.conv1(x)))))
        torch.testing.assert_close(block(x), torch.relu(branch))
        torch.testing.assert_close(twin(x), torch.relu(branch + x))
        assert not torch.allclose(plain(torch.randn(1, 3, 32, 32)), resnet(torch.randn(1, 3, 32, 32)))
    for kw in ({"drop_path_rate": 0.1}, {"zero_init_residual": True}):
        with pytest.raises(InvalidArgumentError, match="plain"):
            cnnzoo.create_model("plain20", **kw)


def test_shortcut_options_of_section_3_3():
    """(A) zero-padding, (B) projections where the shape changes, (C) projections everywhere:
    the three shortcuts He et al. 2015 compare on ResNet-34 (Table 3)."""
    from cnnzoo.models.resnet import BasicBlock, ResNet

    with torch.device("meta"):
        a, b, c = (ResNet(BasicBlock, (3, 4, 6, 3), shortcut=s) for s in "ABC")
    projections = [
        sum(isinstance(m.downsample, nn.Sequential) for m in net.modules() if isinstance(m, BasicBlock))
        for net in (a, b, c)
    ]
    assert projections == [0, 3, 16] and n_params(a) < n_params(b) < n_params(c)
    assert n_params(b) == n_params(meta_model("resnet34"))
    for net in (a, c):
        assert net(meta_input(1, 3, 64, 64)).shape == (1, 1000)
    with pytest.raises(InvalidArgumentError, match="shortcut"):
        ResNet(BasicBlock, (2, 2, 2, 2), shortcut="D")
    with pytest.raises(InvalidArgumentError, match="a sequence of 3 integers or a sequence of 4 integers"):
        ResNet(BasicBlock, (2, 2))


def test_resnet56_recipe_is_the_papers():
    path = Path(__file__).parents[2] / "configs" / "resnet56_cifar10.yaml"
    cfg = TrainConfig.from_dict(load_config(path))
    assert (cfg.model, cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay, cfg.batch_size) == (
        "resnet56",
        0.1,
        0.9,
        False,
        1e-4,
        128,
    )
    assert (cfg.schedule, cfg.milestones, cfg.gamma, cfg.epochs, cfg.augment) == (
        "step",
        [82, 123],
        0.1,
        164,
        "crop_flip",
    )
    steps = 50_000 // 128  # an epoch of the training loader, which drops the partial batch
    assert [round(m * steps, -3) for m in cfg.milestones + [cfg.epochs]] == [32_000, 48_000, 64_000]


# --------------------------------------------------------------------------- GoogLeNet


def test_googlenet_paper_variant_runs_and_knows_its_smallest_input():
    """The paper's auxiliary heads pool 5x5/3 on (4a)'s map, so the variant needs 79x79 with
    them (31x31 without); the main path's 3x3/2 pool before (5a) is the paper's too."""
    model = cnnzoo.create_model("googlenet", variant="paper", num_classes=4)
    assert model.min_input_size == (3, 79, 79) and model.maxpool4.kernel_size == 3
    assert meta_model("googlenet", variant="paper", aux_logits=False).min_input_size == (3, 31, 31)
    out = model.train()(torch.randn(2, 3, 79, 79))
    assert [o.shape for o in out] == [(2, 4)] * 3
    with pytest.raises(InputSizeError, match="79x79"):
        model(torch.randn(2, 3, 78, 79))
    assert model.aux1.pool.kernel_size == 5 and model.aux1.conv.conv.bias is not None
    with pytest.raises(InvalidArgumentError, match="variant"):
        cnnzoo.create_model("googlenet", variant="inception_v2")
    assert meta_model("googlenet", variant="paper", drop_rate=0.1).dropout.p == 0.1


# --------------------------------------------------------------------------- VGG, ZFNet


def test_vgg_a_lrn_and_c_are_table_1s_columns():
    lrn = meta_model("vgg11_lrn")
    assert isinstance(lrn.features[2], nn.LocalResponseNorm) and isinstance(lrn.features[1], nn.ReLU)
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in lrn.modules()) == 1
    assert n_params(lrn) == n_params(meta_model("vgg11"))  # LRN has no parameters (Table 2: 133M both)
    c, d = meta_model("vgg16_c"), meta_model("vgg16")
    kernels = [m.kernel_size[0] for m in c.features if isinstance(m, nn.Conv2d)]
    assert kernels == [3] * 6 + [1] + [3, 3, 1] * 2 and len(kernels) + 3 == 16
    # C and D differ only in the three 1x1 layers, which D has as 3x3: 8 more weights per connection
    assert n_params(d) - n_params(c) == 8 * (256 * 256 + 2 * 512 * 512)
    assert c(meta_input(1, 3, 224, 224)).shape == (1, 1000)


def test_zfnet_wide_has_table_3s_maps():
    wide = meta_model("zfnet_wide")
    convs = [m for m in wide.features if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [96, 256, 512, 1024, 512]
    assert wide.forward_features(meta_input(1, 3, 224, 224)).shape == (1, 512, 6, 6)
    assert wide.classifier[0].in_features == 512 * 6 * 6
    with pytest.raises(InvalidArgumentError, match="widths"):
        cnnzoo.create_model("zfnet", widths=(512, 1024))
