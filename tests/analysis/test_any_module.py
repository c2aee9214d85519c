"""The lecture tools on any module (a layer, a block, a hand-built stack), and depth as the papers count it."""

import json

import pytest
import torch
from helpers import meta_model, run_cli
from torch import nn

import cnnzoo
from cnnzoo.analysis import count_flops, network_depth, receptive_field, summary
from cnnzoo.analysis.receptive import window_fit
from cnnzoo.models.resnet import BasicBlock, Bottleneck


# ---------------------------------------------------------------- a single layer
def test_a_bare_layer_has_its_row_and_says_when_the_window_does_not_fit():
    # the lecture's exercise: 7x7 input, F=3, stride 3: (7 - 3)/3 + 1 = 2.33 does not fit
    s = summary(nn.Conv2d(1, 1, 3, stride=3), (1, 7, 7))
    (row,) = s.layers
    assert row.output_shape == (1, 2, 2) and row.params == 10 and row.macs == 4 * 9 and row.neurons == 4
    assert row.notes == ["(7 - 3 + 2*0)/3 + 1 = 2.33: does not fit, floored to 2"]
    assert row.receptive_field.size == (3, 3) and row.receptive_field.jump == (3, 3)
    assert s.totals["depth"] == 1 and s.totals["final_feature_map"]["shape"] == [1, 2, 2]
    text = str(s)
    assert "(model) (Conv2d)" in text and "2.33: does not fit" in text and "Depth: 1 weight layer " in text
    # stride 2 fits: (7 - 3)/2 + 1 = 3, no note; padding 1 with stride 1 keeps 7x7
    assert summary(nn.Conv2d(1, 1, 3, stride=2), (1, 7, 7)).layers[0].notes == []
    assert summary(nn.Conv2d(1, 1, 3, padding=1), (1, 7, 7)).layers[0].output_shape == (1, 7, 7)


def test_receptive_field_and_flops_of_a_bare_layer():
    rf = receptive_field(nn.Conv2d(64, 64, 7, padding=3), (64, 32, 32))
    assert rf.size == (7, 7) and rf.jump == (1, 1) and rf.start == (-3, -3)
    assert count_flops(nn.Conv2d(3, 256, 5), (3, 12, 12)).macs == 5 * 5 * 3 * 256 * 8 * 8
    assert network_depth(nn.MaxPool2d(2), (1, 8, 8)) == 0
    # a fully connected layer takes a flat input
    s = summary(nn.Linear(10, 5), (10,))
    assert s.layers[0].output_shape == (5,) and s.totals["params"] == 55 and s.totals["depth"] == 1


def test_window_fit_rounding_up_with_ceil_mode():
    x = torch.empty(1, 1, 112, 112, device="meta")
    out = nn.MaxPool2d(3, 2, ceil_mode=True)(x)
    note = window_fit("max_pool2d", (x, 3, 2, 0, 1, True), {}, x, out)
    assert note == "(112 - 3 + 2*0)/2 + 1 = 55.5: does not fit, rounded up (ceil_mode) to 56"
    y = torch.empty(1, 1, 8, 7, device="meta")  # fits in width only
    out = nn.functional.conv2d(y, torch.empty(1, 1, 3, 3, device="meta"), stride=2)
    assert (
        window_fit("conv2d", (y, torch.empty(1, 1, 3, 3), None, 2), {}, y, out)
        == "H: (8 - 3 + 2*0)/2 + 1 = 3.5: does not fit, floored to 3"
    )


# ---------------------------------------------------------------- blocks and hand-built stacks
def test_bottleneck_block_final_map_and_shared_relu():
    s = summary(Bottleneck(256, 64), (256, 28, 28), depth=3)
    fm = s.totals["final_feature_map"]
    assert fm["name"] == "output" and fm["shape"] == [256, 28, 28]
    assert fm["receptive_field"]["size"] == [3, 3]
    relus = [r for r in s.layers if r.name == "relu"]
    assert [(r.call, r.calls) for r in relus] == [(1, 3), (2, 3), (3, 3)]
    assert [r.output_shape for r in relus] == [(64, 28, 28), (64, 28, 28), (256, 28, 28)]
    text = str(s)
    assert "relu (ReLU) [call 3/3]" in text and "Final feature map (output): 256x28x28, receptive field 3 px" in text
    assert s.totals["depth"] == 3
    leaves = [r for r in s.layers if r.leaf]
    assert sum(r.params for r in leaves) == s.totals["params"] and sum(r.macs for r in leaves) == s.totals["macs"]


def test_basic_block_with_a_projection_shortcut():
    down = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32))
    s = summary(BasicBlock(16, 32, downsample=down), (16, 32, 32))
    assert s.totals["final_feature_map"]["receptive_field"]["size"] == [5, 5]  # two 3x3 convolutions
    assert s.totals["depth"] == 2  # the 1x1 shortcut is the shorter path


def test_a_shared_convolution_counts_its_parameters_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return self.conv(torch.relu(self.conv(x)))

    s = summary(Twice(), (4, 8, 8))
    rows = [r for r in s.layers if r.name == "conv"]
    assert [(r.call, r.params) for r in rows] == [(1, 148), (2, 0)] and rows[1].macs == rows[0].macs > 0
    assert sum(r.params for r in s.layers if r.leaf) == s.totals["params"] == 148
    assert sum(r.macs for r in s.layers if r.leaf) == s.totals["macs"]
    assert s.totals["depth"] == 2 and "shared" in str(s)
    assert s.totals["final_feature_map"]["receptive_field"]["size"] == [5, 5]


@pytest.mark.parametrize("n", [2, 3])
def test_stacked_3x3_against_one_large_filter(n):
    # VGG (Simonyan & Zisserman 2014, Sec. 2.3): n 3x3 layers see (2n + 1) px with n * 9C^2 weights
    c = 64
    stack = nn.Sequential(*[nn.Conv2d(c, c, 3, padding=1, bias=False) for _ in range(n)])
    big = nn.Conv2d(c, c, 2 * n + 1, padding=n, bias=False)
    small, large = summary(stack, (c, 32, 32)), summary(big, (c, 32, 32))
    assert receptive_field(stack, (c, 32, 32)).size == receptive_field(big, (c, 32, 32)).size == (2 * n + 1,) * 2
    assert small.totals["params"] == n * 9 * c * c and large.totals["params"] == (2 * n + 1) ** 2 * c * c
    assert small.totals["depth"] == n and large.totals["depth"] == 1


# ---------------------------------------------------------------- depth as the papers count it
# (ResNet-152's 152 and DenseNet-121's 121 are checked by docs/lectures.md's test, GoogLeNet's 22 below)
@pytest.mark.parametrize(
    "name, depth",
    [("alexnet", 8), ("vgg16", 16), ("resnet18", 18), ("resnet50v2", 50), ("mobilenet_v1", 28), ("se_resnet50", 50)],
)
def test_depth_as_the_papers_count_it(name, depth):
    assert network_depth(name) == depth


def test_depth_of_lenet5_variants():
    # LeCun et al. 1998: "LeNet-5 comprises 7 layers ... all of which contain trainable parameters"
    # (S2 and S4 have a coefficient and a bias per map); the modern form pools without weights
    assert network_depth(meta_model("lenet5", variant="paper")) == 7
    assert network_depth("lenet5") == 5


def test_model_info_has_the_depth_measured_when_read():
    info = cnnzoo.model_info("vgg16")
    assert info["family"] == "vgg" and "depth" in info and not dict.__contains__(info, "depth")
    assert info["depth"] == 16 and info.get("depth") == 16
    assert json.loads(json.dumps(cnnzoo.model_info("alexnet")))["depth"] == 8
    assert "'depth': 22" in repr(cnnzoo.model_info("googlenet"))


# ---------------------------------------------------------------- training-only modules
def test_googlenet_totals_separate_the_auxiliary_heads():
    t = summary("googlenet").totals
    assert t["params"] == 13_004_888
    assert t["inference_params"] == 6_624_904 and t["eval_skipped_params"] == 6_379_984
    assert t["eval_skipped_modules"] == ["aux1", "aux2"]
    text = str(summary("googlenet", depth=1))
    assert "6,624,904 run in inference and 6,379,984 only in training (aux1, aux2" in text
    assert summary("vgg16").totals["eval_skipped_params"] == 0  # its sliced classifier does run


def test_a_module_skipped_in_eval_is_reported():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv2d(1, 2, 3)
            self.train_only = nn.Linear(2, 2)

        def forward(self, x):
            y = self.body(x)
            return (y, self.train_only(y.mean((2, 3)))) if self.training else y

    t = summary(Net(), (1, 8, 8)).totals
    assert (t["inference_params"], t["eval_skipped_params"], t["eval_skipped_modules"]) == (20, 6, ["train_only"])


# ---------------------------------------------------------------- the CLI
def test_info_with_model_args(capsys):
    code, out, _ = run_cli(capsys, "info", "lenet5", "--model-arg", "variant=paper")
    assert code == 0 and "Parameters: 60,840" in out and "lenet5 variant=paper: input 1x32x32" in out
    assert "Depth: 7 weight layers" in out
    code, out, _ = run_cli(capsys, "info", "mobilenet_v2", "--model-arg", "width_mult=0.5", "--json")
    assert code == 0 and json.loads(out)["totals"]["params"] == meta_params("mobilenet_v2", width_mult=0.5)
    code, _, err = run_cli(capsys, "info", "lenet5", "--model-arg", "variant")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run_cli(capsys, "info", "lenet5", "--model-arg", "colour=blue")
    assert code == 2 and "colour" in err and "Traceback" not in err


def meta_params(name, **kwargs):
    return sum(p.numel() for p in meta_model(name, **kwargs).parameters())


def test_info_shows_neurons_depth_and_notes(capsys):
    code, out, _ = run_cli(capsys, "info", "alexnet_original", "--input-size", "3", "227", "227")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("features.0 "))
    assert line.split()[2:5] == ["96x55x55", "290,400", "34,944"]  # (227 - 11)/4 + 1 = 55
    assert "Depth: 8 weight layers" in out
    code, out, _ = run_cli(capsys, "info", "alexnet_original", "--input-size", "3", "224", "224")
    assert "(224 - 11 + 2*0)/4 + 1 = 54.25: does not fit, floored to 54" in out  # the 224 of the paper


def test_benchmark_and_export_take_model_args(capsys, tmp_path):
    code, out, _ = run_cli(
        capsys, "benchmark", "--models", "lenet5", "--no-timing", "--model-arg", "variant=paper", "--json"
    )
    (row,) = json.loads(out)
    assert code == 0 and row["params"] == 60_840 and row["model_args"] == {"variant": "paper"}
    code, out, _ = run_cli(
        capsys,
        "export",
        "--model",
        "lenet5",
        "--model-arg",
        "variant=paper",
        "--format",
        "torchscript",
        "--output",
        str(tmp_path / "l5.pt"),
    )
    assert code == 0 and "max |difference|" in out
    scripted = torch.jit.load(str(tmp_path / "l5.pt"))
    assert sum(p.numel() for p in scripted.parameters()) == 60_840


def test_info_plot_draws_the_per_layer_chart(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    code, out, err = run_cli(capsys, "info", "vgg16", "--depth", "1", "--plot", str(tmp_path / "vgg16.png"))
    assert code == 0 and "Depth: 16" in out and "vgg16.png" in err
    assert (tmp_path / "vgg16.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from cnnzoo.apps import layer_chart

    rows = layer_chart("vgg16", tmp_path / "again.png")
    # the slide's layers: 13 convolutions, 5 max-pools, the adaptive pool, 3 fully connected
    assert [r.kind for r in rows].count("weight") == 16 and [r.kind for r in rows].count("pool") == 6
    assert rows[0].params == 1_792 and rows[0].neurons == 64 * 224 * 224 and rows[-1].params == 4_097_000
