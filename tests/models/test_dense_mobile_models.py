"""DenseNet and MobileNet v1/v2: key maps and options (output equivalence: tests/weights/test_weights.py)."""

import re

import pytest
import torch
import torchvision
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.densenet import DenseLayer, DenseNet
from cnnzoo.models.layers import make_divisible
from cnnzoo.models.mobilenet import DepthwiseSeparableConv
from cnnzoo.weights.keymaps import KEY_MAPS

ATOL = 1e-5


def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == yb.shape
    assert yb.abs().max() > 0.05  # a comparison of near-zero outputs would prove nothing
    return (ya - yb).abs().max().item()


def keys_and_shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def to_legacy_densenet_keys(state_dict):
    # the inverse of torchvision's rewrite: denselayer1.norm1.weight -> denselayer1.norm.1.weight
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(.*)$")
    return {pattern.sub(r"\1.\2.\3", k): v for k, v in state_dict.items()}


def test_densenet_legacy_keys_map_back():
    with torch.device("meta"):
        sd = torchvision.models.densenet121().state_dict()
    legacy = to_legacy_densenet_keys(sd)
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    assert "features.denseblock4.denselayer16.conv.2.weight" in legacy
    assert "features.denseblock2.denselayer3.norm.2.num_batches_tracked" in legacy
    assert not any(re.search(r"denselayer\d+\.(norm|conv)[12]\.", k) for k in legacy)
    # the untouched keys (stem, transitions, norm5, classifier) are the same in both forms
    assert "features.transition1.norm.weight" in legacy and "classifier.weight" in legacy

    mapped = KEY_MAPS["torchvision_densenet_legacy"](legacy)
    assert list(mapped) == list(sd)
    assert all(mapped[k] is sd[k] for k in sd)
    # the map leaves a state dict that is already in the new form unchanged
    assert list(KEY_MAPS["torchvision_densenet_legacy"](sd)) == list(sd)


def test_legacy_keys_do_not_load_without_the_map():
    with torch.device("meta"):
        model = cnnzoo.create_model("densenet121")
    legacy = to_legacy_densenet_keys(model.state_dict())
    with pytest.raises(RuntimeError, match="norm.1"):
        model.load_state_dict(legacy)


@pytest.mark.parametrize("width", [0.5, 1.4])
def test_mobilenet_v2_width_mult_matches_torchvision(width):
    with torch.device("meta"):
        theirs = torchvision.models.mobilenet_v2(width_mult=width)
        ours = cnnzoo.create_model("mobilenet_v2", width_mult=width)
    assert keys_and_shapes(ours) == keys_and_shapes(theirs)
    # the last conv keeps at least 1280 maps (Sandler et al. 2018, Sec. 6.1)
    assert ours.num_features == (1280 if width < 1 else make_divisible(1280 * width))


# --- timm: MobileNet v1 through the key map ------------------------------------------------


def test_timm_mobilenetv1_key_map_names():
    timm = pytest.importorskip("timm", reason="timm is a test dependency")
    with torch.device("meta"):
        sd = timm.create_model("mobilenetv1_100").state_dict()
    mapped = KEY_MAPS["timm_mobilenetv1"](sd)
    assert mapped["features.0.0.weight"] is sd["conv_stem.weight"]
    assert mapped["features.0.1.running_var"] is sd["bn1.running_var"]
    assert mapped["features.1.conv_dw.weight"] is sd["blocks.0.0.conv_dw.weight"]
    assert mapped["features.11.conv_pw.weight"] is sd["blocks.3.5.conv_pw.weight"]
    assert mapped["features.13.bn2.bias"] is sd["blocks.4.1.bn2.bias"]
    assert mapped["classifier.weight"] is sd["classifier.weight"]


def test_timm_key_map_passes_unknown_keys_through():
    sd = cnnzoo.create_model("mobilenet_v1_025").state_dict()
    timm_like = {
        "conv_stem.weight": sd["features.0.0.weight"],
        "conv_head.weight": torch.zeros(1),
        "blocks.0.0.bn1.weight": sd["features.1.bn1.weight"],
    }
    mapped = KEY_MAPS["timm_mobilenetv1"](timm_like)
    assert set(mapped) == {"features.0.0.weight", "conv_head.weight", "features.1.bn1.weight"}


# --- MobileNet v1 options ------------------------------------------------------------------

# Howard et al. 2017, Table 1: the pointwise output of the 13 depthwise separable blocks
V1_CHANNELS = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
V1_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def v1_blocks(model):
    return [m for m in model.features if isinstance(m, DepthwiseSeparableConv)]


@pytest.mark.parametrize(
    "name,alpha",
    [("mobilenet_v1", 1.0), ("mobilenet_v1_075", 0.75), ("mobilenet_v1_050", 0.5), ("mobilenet_v1_025", 0.25)],
)
def test_mobilenet_v1_width_multiplier_channels(name, alpha):
    with torch.device("meta"):
        model = cnnzoo.create_model(name)
    assert model.features[0][0].out_channels == int(32 * alpha)
    blocks = v1_blocks(model)
    # the paper's multipliers give multiples of 8, so alpha * c is exact (Sec. 3.3)
    assert [b.conv_pw.out_channels for b in blocks] == [int(c * alpha) for c in V1_CHANNELS]
    assert [b.conv_dw.stride[0] for b in blocks] == V1_STRIDES
    assert all(b.conv_dw.groups == b.conv_dw.in_channels for b in blocks)
    assert model.num_features == int(1024 * alpha)


def test_mobilenet_v1_width_rounding_is_timms():
    timm_layers = pytest.importorskip("timm.layers", reason="timm is a test dependency")
    with torch.device("meta"):
        model = cnnzoo.create_model("mobilenet_v1", width_mult=0.35)
    want = [timm_layers.make_divisible(c * 0.35, 8) for c in V1_CHANNELS]
    assert [b.conv_pw.out_channels for b in v1_blocks(model)] == want
    # 32 * 0.35 = 11.2 rounds to 8, which loses more than 10 %, so it becomes 16
    assert model.features[0][0].out_channels == 16 == timm_layers.make_divisible(32 * 0.35, 8)


def test_mobilenet_v1_relu_vs_relu6():
    relu6 = cnnzoo.create_model("mobilenet_v1_025", num_classes=4).eval()
    relu = cnnzoo.create_model("mobilenet_v1_025", num_classes=4, act_layer="relu").eval()
    acts6 = [type(m) for m in relu6.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    acts = [type(m) for m in relu.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    assert len(acts6) == len(acts) == 1 + 2 * 13
    assert set(acts6) == {nn.ReLU6} and set(acts) == {nn.ReLU}
    with torch.no_grad():  # BN scale 10: pre-activations of about +-10, beyond ReLU6's cap
        for m in relu6.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(10.0)
    relu.load_state_dict(relu6.state_dict())  # same parameters, only the activation differs
    relu6.train(), relu.train()  # batch statistics: every layer normalised, whatever the init
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f6, f = relu6.forward_features(x), relu.forward_features(x)
    assert f6.max() <= 6.0 and f6.min() >= 0.0
    assert f.max() > 6.0  # the same weights without the cap exceed it
    cls = cnnzoo.create_model("mobilenet_v1_025", act_layer=nn.ReLU)
    assert not any(isinstance(m, nn.ReLU6) for m in cls.modules())


# --- DenseNet options ----------------------------------------------------------------------


def test_densenet_bc_100_k12_structure():
    model = cnnzoo.create_model("densenet_bc_100_k12")
    assert model.num_classes == 10
    assert sum(p.numel() for p in model.parameters()) == 769_162
    f = model.features
    assert [n for n, _ in f.named_children()] == [
        "conv0",
        "denseblock1",
        "transition1",
        "denseblock2",
        "transition2",
        "denseblock3",
        "norm5",
    ]
    assert f.conv0.kernel_size == (3, 3) and f.conv0.stride == (1, 1) and f.conv0.out_channels == 24
    assert [len(getattr(f, f"denseblock{i}")) for i in (1, 2, 3)] == [16, 16, 16]
    # 24 + 16*12 = 216 -> 108; 108 + 192 = 300 -> 150; 150 + 192 = 342
    assert f.transition1.conv.out_channels == 108 and f.transition2.conv.out_channels == 150
    assert model.num_features == 342
    layer = f.denseblock3.denselayer16
    assert layer.conv1.out_channels == 48 and layer.conv2.out_channels == 12  # 4k, k
    model.eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 342, 8, 8)


def small_densenet(**kw):
    return DenseNet(8, (2, 3), 16, 2, stem="cifar", num_classes=3, **kw)


@pytest.mark.parametrize("compiled", [False, True])
def test_densenet_memory_efficient_matches_plain_training_step(compiled):
    plain = small_densenet()
    efficient = small_densenet(memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    assert all(m.memory_efficient for m in efficient.modules() if isinstance(m, DenseLayer))
    x = torch.randn(4, 3, 16, 16)
    target = torch.tensor([0, 1, 2, 1])
    # the checkpointed path stays one graph too (torchvision's breaks under compile)
    torch.compiler.reset()
    run = torch.compile(efficient, backend="eager", fullgraph=True) if compiled else efficient
    for model in (plain, run):
        model.train()
        nn.functional.cross_entropy(model(x), target).backward()
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=name)
    # the recomputation in backward must not update the BN running statistics a second time
    sd_plain, sd_eff = plain.state_dict(), efficient.state_dict()
    for k in sd_plain:
        torch.testing.assert_close(sd_eff[k], sd_plain[k], atol=1e-6, rtol=1e-5, msg=k)
    assert sd_eff["features.denseblock1.denselayer2.norm1.num_batches_tracked"] == 1
    plain.eval(), efficient.eval()
    assert max_diff(efficient, plain, x) <= ATOL


def test_densenet_compression_and_config_are_data():
    model = DenseNet(4, (1, 1, 1), 8, 2, compression=1.0, stem="cifar", num_classes=2)
    # without compression (theta = 1) each transition keeps its channels: 8+4, 12+4, 16+4
    assert model.features.transition1.conv.out_channels == 12
    assert model.features.transition2.conv.out_channels == 16
    assert model.num_features == 20


@pytest.mark.parametrize(
    "name,kw",
    [
        ("mobilenet_v1", {"width_mult": 0}),
        ("mobilenet_v1", {"width_mult": -0.5}),
        ("mobilenet_v1", {"width_mult": "wide"}),
        ("mobilenet_v1", {"act_layer": "gelu"}),
        ("mobilenet_v1", {"drop_rate": 1.0}),
        ("mobilenet_v2", {"width_mult": 0.0}),
        ("mobilenet_v2", {"round_nearest": 0}),
        ("mobilenet_v2", {"drop_rate": -0.1}),
        ("densenet121", {"compression": 0.0}),
        ("densenet121", {"compression": 1.5}),
        ("densenet121", {"stem": "tiny"}),
        ("densenet121", {"drop_rate": 1.0}),
        ("densenet121", {"proj_drop_rate": 1.0}),
        ("densenet121", {"bn_size": 0}),
        ("densenet_bc_100_k12", {"num_classes": -1}),
        ("mobilenet_v1_025", {"widht_mult": 0.5}),  # a typo is an error, not silently ignored
    ],
)
def test_bad_arguments_are_invalid_argument_errors(name, kw):
    with pytest.raises(InvalidArgumentError):
        cnnzoo.create_model(name, **kw)


def test_bad_densenet_config_on_the_class():
    with pytest.raises(InvalidArgumentError, match="block_config"):
        DenseNet(32, (), 64)
    with pytest.raises(InvalidArgumentError, match="growth_rate"):
        DenseNet(0, (6, 12), 64)
