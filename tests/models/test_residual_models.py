"""The residual family (ResNet v1/v2, ResNeXt, Wide ResNet, SENet): what the generic tests don't cover.

The key maps of timm's layouts by name; that the converted state dicts give the same outputs is
tests/weights/test_weights.py's (once per block type and layout).
"""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.layers import DropPath, SqueezeExcitation
from cnnzoo.models.resnet import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ResNet
from cnnzoo.weights.keymaps import KEY_MAPS

BLOCKS = (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck)


def blocks_of(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BLOCKS)]


def test_legacy_senet_key_map_names():
    w = torch.zeros(1)
    flat = KEY_MAPS["timm_legacy_senet"](
        {
            "layer0.conv1.weight": w,
            "layer0.bn1.running_var": w,
            "layer3.2.se_module.fc2.bias": w,
            "layer2.0.downsample.1.weight": w,
            "last_linear.weight": w,
            "not.a.timm.key": w,
        }
    )
    assert set(flat) == {
        "conv1.weight",
        "bn1.running_var",
        "layer3.2.se.fc2.bias",
        "layer2.0.downsample.1.weight",
        "fc.weight",
        "not.a.timm.key",
    }
    deep = KEY_MAPS["timm_legacy_senet"]({f"layer0.{m}{i}.weight": w for m in ("conv", "bn") for i in (1, 2, 3)})
    assert set(deep) == {
        "conv1.0.weight",
        "conv1.1.weight",
        "conv1.3.weight",
        "conv1.4.weight",
        "conv1.6.weight",
        "bn1.weight",
    }


def test_resnetv2_key_map_names_and_linear_head():
    w = torch.randn(10, 8, 1, 1)
    out = KEY_MAPS["timm_resnetv2"](
        {
            "stem.conv.weight": w,
            "stages.0.blocks.0.norm1.weight": w,
            "stages.3.blocks.2.conv3.weight": w,
            "stages.1.blocks.0.downsample.conv.weight": w,
            "norm.running_mean": w,
            "head.fc.weight": w,
            "head.fc.bias": w[:, 0, 0, 0],
        }
    )
    assert set(out) == {
        "conv1.weight",
        "layer1.0.bn1.weight",
        "layer4.2.conv3.weight",
        "layer2.0.downsample.0.weight",
        "final_bn.running_mean",
        "fc.weight",
        "fc.bias",
    }
    assert out["fc.weight"].shape == (10, 8) and torch.equal(out["fc.weight"], w[:, :, 0, 0])


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet18v2", "resnet50v2", "se_resnet50"])
def test_zero_init_residual_makes_blocks_identities(name):
    model = cnnzoo.create_model(name, zero_init_residual=True).eval()
    plain = [b for b in blocks_of(model) if b.downsample is None]
    assert plain
    for block in plain:
        # v1 blocks end with ReLU, so their input (a ReLU output) is non-negative
        x = torch.randn(2, block.conv1.in_channels, 8, 8).relu()
        with torch.no_grad():
            torch.testing.assert_close(block(x), x)
    # with the option off (torchvision's default; cnnzoo's is on) the same blocks are not identities
    other = cnnzoo.create_model(name, zero_init_residual=False).eval()
    block = [b for b in blocks_of(other) if b.downsample is None][0]
    x = torch.randn(2, block.conv1.in_channels, 8, 8).relu()
    with torch.no_grad():
        assert not torch.allclose(block(x), x)


@pytest.mark.parametrize("name", ["resnet50", "resnet34v2", "se_resnext50_32x4d", "senet154"])
def test_drop_path_rates_rise_linearly_per_block(name):
    with torch.device("meta"):
        model = cnnzoo.create_model(name, drop_path_rate=0.3)
    blocks = blocks_of(model)
    rates = [b.drop_path.drop_prob if isinstance(b.drop_path, DropPath) else 0.0 for b in blocks]
    expected = torch.linspace(0.0, 0.3, len(blocks)).tolist()
    assert rates == pytest.approx(expected)
    assert isinstance(blocks[0].drop_path, nn.Identity)  # rate 0: no module to skip at runtime


def test_drop_path_is_stochastic_in_training_only():
    # branches that start at zero (the default zero-init) drop nothing: start them drawn
    model = cnnzoo.create_model("resnet18v2", num_classes=4, drop_path_rate=0.5, zero_init_residual=False)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    with torch.no_grad():
        a, b = model.forward_features(x), model.forward_features(x)
    assert not torch.allclose(a, b)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x))


def test_drop_path_training_forward_compiles_without_graph_breaks():
    model = cnnzoo.create_model("resnet18", num_classes=4, drop_path_rate=0.2).train()
    torch.compiler.reset()  # a fresh recompile budget (see test_models.test_compiles_without_graph_breaks)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    out = compiled(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 4)


def test_drop_rate_dropout_before_fc():
    with torch.device("meta"):
        assert cnnzoo.create_model("senet154").drop.p == pytest.approx(0.2)  # Hu et al., App.
        assert cnnzoo.create_model("se_resnet50").drop.p == 0.0
    model = cnnzoo.create_model("resnet18", num_classes=3, drop_rate=0.5)
    feats = torch.rand(8, 512, 1, 1) + 1.0
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model.forward_head(feats), model.forward_head(feats))
        # pre_logits is the classifier's input: the pooled features after the (training) dropout
        pre = model.forward_head(feats, pre_logits=True)
        assert pre.shape == (8, 512) and bool(((pre == 0) | (pre > 1.0)).all()) and bool((pre == 0).any())
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_head(feats), model.fc(feats.flatten(1)))


def test_v2_structure_preactivation():
    model = cnnzoo.create_model("resnet50v2")
    assert isinstance(model.bn1, nn.Identity) and isinstance(model.relu, nn.Identity)
    assert isinstance(model.final_bn, nn.BatchNorm2d) and model.final_bn.num_features == 2048
    down = model.layer2[0].downsample
    assert len(down) == 1 and isinstance(down[0], nn.Conv2d)  # no BN after a v2 projection
    # a v2 block output is not rectified: the addition is the last operation (Fig. 4e)
    x = torch.randn(2, 256, 8, 8)
    with torch.no_grad():
        assert (model.layer1[1].eval()(x) < 0).any()


def test_se_release_options():
    """Where each SE network puts its stride and how its shortcuts and stem are built."""
    with torch.device("meta"):
        se50 = cnnzoo.create_model("se_resnet50")
        sex50 = cnnzoo.create_model("se_resnext50_32x4d")
        s154 = cnnzoo.create_model("senet154")
    for model in (se50, sex50, s154):
        n_se = sum(isinstance(m, SqueezeExcitation) for m in model.modules())
        assert n_se == len(blocks_of(model))
        assert model.maxpool.ceil_mode and model.maxpool.padding == 0
    assert se50.layer2[0].conv1.stride == (2, 2) and se50.layer2[0].conv2.stride == (1, 1)
    assert sex50.layer2[0].conv1.stride == (1, 1) and sex50.layer2[0].conv2.stride == (2, 2)
    assert sex50.layer1[0].conv2.groups == 32 and sex50.layer1[0].conv2.out_channels == 128
    assert se50.layer1[0].se.fc1.out_channels == 256 // 16
    b = s154.layer1[0]
    assert (b.conv1.out_channels, b.conv2.out_channels, b.conv2.groups) == (128, 256, 64)
    assert s154.layer1[0].downsample[0].kernel_size == (1, 1)
    assert s154.layer2[0].downsample[0].kernel_size == (3, 3)
    assert [m.kernel_size for m in s154.conv1 if isinstance(m, nn.Conv2d)] == [(3, 3)] * 3


def test_torchscript_v2_and_se():
    for name in ("resnet18v2", "se_resnet18"):
        model = cnnzoo.create_model(name, num_classes=5).eval()
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.script(model)(x), model(x))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ResNet(BasicBlock, (2, 2, 2)), "same stages"),  # three stages need three channels
        (lambda: ResNet(BasicBlock, (2, 2, 0, 2)), r"layers\[2\] must be a whole number >= 1"),
        (lambda: ResNet(nn.Conv2d, (2, 2, 2, 2)), "block must be one of"),
        (lambda: ResNet(BasicBlock, (2, 2, 2, 2), groups=32), "BasicBlock does not support groups=32"),
        (lambda: ResNet(PreActBottleneck, (2, 2, 2, 2), stride_in_1x1=True), "stride_in_1x1"),
        (lambda: ResNet(PreActBasicBlock, (2, 2, 2, 2), width_per_group=128), "width_per_group=128"),
        (lambda: ResNet(Bottleneck, (2, 2, 2, 2), width_per_group=0), "width_per_group must be"),
        (lambda: ResNet(Bottleneck, (2, 2, 2, 2), stem_type="5x5"), "stem_type"),
        (lambda: ResNet(Bottleneck, (2, 2, 2, 2), drop_path_rate=1.0), "drop_path_rate"),
        (lambda: ResNet(Bottleneck, (2, 2, 2, 2), drop_rate=-0.1), "drop_rate"),
        (lambda: cnnzoo.create_model("resnext50_32x4d", groups=8), "fixes groups=32"),
        (lambda: cnnzoo.create_model("senet154", stem_type="7x7"), "fixes stem_type='deep'"),
        (lambda: cnnzoo.create_model("resnet50", layers=(1, 1, 1, 1)), "fixes layers=.3, 4, 6, 3."),
        (lambda: ResNet(Bottleneck, (1, 1, 1, 1), down_kernel_size=2), "down_kernel_size must be odd"),
        (lambda: cnnzoo.create_model("resnet18", zero_init_residul=True), "zero_init_residul"),
    ],
)
def test_bad_arguments_are_specific_errors(build, match):
    with pytest.raises(InvalidArgumentError, match=match):
        build()
