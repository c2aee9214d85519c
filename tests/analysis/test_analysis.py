"""Summary tables, FLOP counts, saliency and feature extraction (receptive fields: test_analysis_rf.py)."""

import json

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis import count_flops, features, saliency, stage_names, summary
from cnnzoo.errors import InputSizeError, InvalidArgumentError

# torchvision's published "GFLOPS" (its weights' meta["_ops"], torchvision 0.29.1), which are
# multiply-accumulates / 1e9 of convolutions and matrix products at 224x224
TORCHVISION_GFLOPS = {
    "alexnet": 0.714,
    "vgg16": 15.47,
    "googlenet": 1.498,
    "resnet18": 1.814,
    "resnet50": 4.089,
    "resnext50_32x4d": 4.23,
    "wide_resnet50_2": 11.398,
    "densenet121": 2.834,
    "mobilenet_v2": 0.301,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GFLOPS))
def test_gflops_match_torchvision(name):
    published = TORCHVISION_GFLOPS[name]
    assert count_flops(name).gflops == pytest.approx(published, rel=0.02)
    # and the table above is what the installed torchvision says
    from torchvision.models import get_model_weights

    assert get_model_weights(name).DEFAULT.meta["_ops"] == pytest.approx(published, abs=5e-4)


def test_gflops_scale_with_input_area():
    base = count_flops("resnet50").macs
    assert count_flops("resnet50", (3, 448, 448)).macs == pytest.approx(4 * base, rel=0.01)


def test_vgg16_summary():
    s = summary("vgg16")
    t = s.totals
    assert t["params"] == 138_357_544 and t["trainable_params"] == t["params"] and t["frozen_params"] == 0
    assert t["gflops"] == pytest.approx(15.47, rel=1e-3) and t["macs"] == 15_470_264_320
    assert t["model_size_mb"] == pytest.approx(527.796, rel=1e-3)  # torchvision's _file_size
    # activations of the leaf layers' outputs: 13 convs, 13 in-place ReLUs (free), 5 pools, ...
    first_conv = 64 * 224 * 224 * 4 / 2**20
    assert first_conv < t["activation_mb"] < 200
    rows = {r.name: r for r in s.layers}
    assert rows["features.0"].output_shape == (64, 224, 224)
    assert rows["features.0"].params == 1_792 and rows["features.0"].macs == 64 * 3 * 9 * 224 * 224
    assert rows["classifier.6"].output_shape == (1000,)
    # the classifier is sliced in VGG's forward_head: its MACs are still its children's
    assert rows["classifier"].macs == sum(rows[f"classifier.{i}"].macs for i in (0, 3, 6))
    assert t["final_feature_map"]["shape"] == [512, 7, 7]
    assert t["final_feature_map"]["receptive_field"]["size"] == [212, 212]
    text = str(s)
    assert "features.30 (MaxPool2d)" in text and "15.470 GFLOPs" in text and "212 px" in text


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "densenet121", "se_resnext50_32x4d", "lenet5"])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_leaf_rows_add_up_to_the_totals(name, depth):
    s = summary(name, depth=depth)
    leaves = [r for r in s.layers if r.leaf]
    assert sum(r.params for r in leaves) == s.totals["params"]
    assert sum(r.trainable_params for r in leaves) == s.totals["trainable_params"]
    assert sum(r.macs for r in leaves) == s.totals["macs"]
    assert all(r.depth <= depth for r in s.layers)


def test_unrun_modules_still_counted():
    # GoogLeNet's auxiliary heads do not run in eval mode but hold 6.4M parameters
    rows = {r.name: r for r in summary("googlenet", depth=1).layers}
    assert rows["aux1"].output_shape is None and rows["aux1"].calls == 0 and rows["aux1"].params > 3_000_000


def test_own_parameters_of_a_container_get_a_row():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1, 4, 1, 1))
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return (self.conv(x) * self.scale).mean((2, 3))

    s = summary(Net(), (3, 8, 8))
    assert sum(r.params for r in s.layers if r.leaf) == s.totals["params"] == 4 + 112
    assert any(r.name == "(model) (own parameters)" and r.params == 4 for r in s.layers)


def test_real_model_same_as_meta_and_frozen_counts():
    model = cnnzoo.create_model("resnet18", num_classes=10)
    for p in model.layer1.parameters():
        p.requires_grad_(False)
    model.train()
    s = summary(model, (3, 64, 64))
    assert model.training, "summary must restore the mode"
    frozen = sum(p.numel() for p in model.layer1.parameters())
    assert s.totals["frozen_params"] == frozen and s.totals["trainable_params"] == s.totals["params"] - frozen
    with torch.device("meta"):
        meta = cnnzoo.create_model("resnet18", num_classes=10)
    ref = summary(meta, (3, 64, 64))
    assert s.totals["macs"] == ref.totals["macs"] and [r.output_shape for r in s.layers] == [
        r.output_shape for r in ref.layers
    ]


def test_model_holding_a_plain_tensor_falls_back_to_a_real_run():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.offset = torch.ones(1, 2, 1, 1)  # neither parameter nor buffer: cannot go to meta

        def forward(self, x):
            return (self.conv(x) + self.offset).flatten(1)

    s = summary(Net(), (1, 6, 6))
    assert s.totals["macs"] == 2 * 9 * 16 and s.totals["output_shape"] == [2 * 16]


def test_json_output():
    s = summary("resnet18", (3, 64, 64))
    d = json.loads(s.to_json())
    assert d["model"] == "resnet18" and d["input_size"] == [3, 64, 64]
    row = next(r for r in d["layers"] if r["name"] == "layer2")
    assert row["output_shape"] == [128, 8, 8] and row["params"] > 0 and row["macs"] > 0
    assert set(row["receptive_field"]) == {"size", "jump", "start", "global_context"}
    assert {
        "params",
        "trainable_params",
        "frozen_params",
        "macs",
        "gflops",
        "gflops_definition",
        "activation_mb",
        "model_size_mb",
        "final_feature_map",
    } <= set(d["totals"])


def test_bad_arguments():
    with pytest.raises(InvalidArgumentError, match="depth"):
        summary("resnet18", depth=0)
    with pytest.raises(InvalidArgumentError, match="input_size"):
        summary("resnet18", (3, 64))
    with pytest.raises(InputSizeError, match="smaller"):
        summary("vgg16", (3, 16, 16))
    with pytest.raises(KeyError):  # UnknownModelError
        summary("resnet17")
    from cnnzoo.analysis import receptive_field

    with pytest.raises(InvalidArgumentError, match="layer1"):
        receptive_field("resnet18", layer="layer9")


# ---------------------------------------------------------------- saliency
def test_saliency_shapes_and_side_effects():
    model = cnnzoo.create_model("lenet5", num_classes=5).train()
    x = torch.randn(2, 1, 32, 32)
    maps = saliency(model, x)
    assert maps.shape == (2, 32, 32) and (maps >= 0).all() and maps.sum() > 0
    assert saliency(model, x[0], target=3).shape == (32, 32)
    assert model.training, "saliency must restore the mode"
    assert all(p.grad is None for p in model.parameters()), "saliency must not touch parameter gradients"
    with pytest.raises(InvalidArgumentError, match="target"):
        saliency(model, x, target=5)
    with pytest.raises(InvalidArgumentError):
        saliency(model, x, smoothgrad_samples=-1)


def test_saliency_matches_the_gradient_definition():
    # a linear model: d score_c / d x = W[c], so the map is max over channels of |W[c]|
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = torch.randn(2, 4, 4)
    expected = model[1].weight[1].detach().view(2, 4, 4).abs().amax(0)
    torch.testing.assert_close(saliency(model, x, target=1), expected)


def _planted(n, generator):
    # the class is decided by the sign of a 3x3 patch at rows 2-4, columns 10-12; noise elsewhere
    x = torch.randn(n, 1, 16, 16, generator=generator)
    y = torch.randint(0, 2, (n,), generator=generator)
    x[:, 0, 2:5, 10:13] = (2.0 * y.float() - 1).view(-1, 1, 1) * 2.0 + 0.3 * torch.randn(n, 3, 3, generator=generator)
    return x, y


def test_saliency_highlights_a_planted_pattern():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 256, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.5)
    for _ in range(80):
        x, y = _planted(48, g)
        # an L1 penalty on the classifier: weights the task does not need go to zero
        loss = nn.functional.cross_entropy(net(x), y) + 3e-3 * net[3].weight.abs().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = _planted(32, g)
    with torch.no_grad():
        assert (net(x).argmax(1) == y).float().mean() >= 0.95, "the tiny net did not learn the pattern"
    region = torch.zeros(16, 16, dtype=torch.bool)
    region[1:6, 9:14] = True  # the patch and a one-pixel border: 25 of 256 pixels (10 %)
    for maps in (saliency(net, x, target=y), saliency(net, x, target=y, smoothgrad_samples=8)):
        share = maps[:, region].sum(1) / maps.sum((1, 2))
        assert share.mean() > 0.5, f"only {share.mean():.2f} of the saliency is on the pattern"
        peak_on_pattern = region.flatten()[maps.flatten(1).argmax(1)]
        assert peak_on_pattern.float().mean() >= 0.9


# ---------------------------------------------------------------- features
def test_features_at_named_layers():
    model = cnnzoo.create_model("resnet18").eval()
    extractor = features(model, ["layer1", "layer3", "layer1.0.add"])
    out = extractor(torch.randn(1, 3, 64, 64))
    assert set(out) == {"layer1", "layer3", "layer1.0.add"}
    assert out["layer1"].shape == (1, 64, 16, 16) and out["layer3"].shape == (1, 256, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(
            extractor(torch.ones(1, 3, 64, 64))["layer3"],
            model.layer3(
                model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(torch.ones(1, 3, 64, 64)))))))
            ),
        )


def test_stage_outputs_by_default():
    assert stage_names(cnnzoo.create_model("resnet18")) == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert stage_names(cnnzoo.create_model("resnet18v2")) == ["conv1", "layer1", "layer2", "layer3", "final_relu"]
    with torch.device("meta"):
        vgg = cnnzoo.create_model("vgg16")
    assert stage_names(vgg) == ["features.3", "features.8", "features.15", "features.22", "features.29", "features.30"]
    model = cnnzoo.create_model("densenet121")
    out = features(model)(torch.randn(1, 3, 64, 64))
    assert list(out)[-1] == "features.norm5"
    sizes = [v.shape[-1] for v in out.values()]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes) == 5


def test_unknown_layer_names_list_the_valid_ones():
    model = cnnzoo.create_model("resnet18")
    with pytest.raises(InvalidArgumentError) as e:
        features(model, ["layer5", "layer1"])
    assert "layer5" in str(e.value) and "layer4" in str(e.value) and "conv1" in str(e.value)
    with pytest.raises(InvalidArgumentError):
        features(model, [])


def test_features_when_fx_cannot_trace_the_head():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.head = nn.Linear(4, 2)

        def forward_features(self, x):
            return self.body(x)

        def forward_head(self, x):
            if x.sum() > 0:  # data-dependent Python control flow: FX cannot trace it
                x = x * 2
            return self.head(x.mean((2, 3)))

        def forward(self, x):
            return self.forward_head(self.forward_features(x))

    model = Net()
    out = features(model, ["body.1", "body"])(torch.randn(2, 1, 8, 8))
    assert out["body.1"].shape == (2, 4, 8, 8) and out["body"].shape == (2, 4, 4, 4)
    assert set(features(model, input_size=8)(torch.randn(1, 1, 8, 8))) == {"body.1", "body.2"}
    with pytest.raises(InvalidArgumentError, match="forward_features"):
        features(model, ["head"])
    # VGG slices its classifier in forward_head; its stages come out all the same
    out = features(cnnzoo.create_model("vgg11"))(torch.randn(1, 3, 64, 64))
    assert list(out)[-1] == "features.20" and out["features.20"].shape == (1, 512, 2, 2)
