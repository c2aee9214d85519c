"""Receptive fields after adaptive pooling, through resampling and through operations that mix
across the image, each checked against a gradient measurement.

The measurement: back-propagate from one output unit to the input and take the rows and
columns where the input gradient is non-zero. The model is made so that nothing cancels or
dies on the way: float64, every weight positive and random (uniform 0.5..1.5 over fan-in),
batch norm a positive per-channel scale, max pooling replaced by average pooling over the same
windows (the gradient then reaches the whole window, not only the argmax) and a positive input,
so every ReLU passes its input. The support of that gradient is then exactly the set of input
pixels the unit depends on, which a predicted field (clipped to the image) must equal.

A field is the window of Araujo et al. (Distill 2019), padding included. At the right and
bottom edges a window can also cover image pixels that no unit of the map reaches (those that
only a floored window would have seen: AlexNet's conv1 at 227 px reads up to pixel 226, its
pool1 drops that last column of conv1 and reaches only 224). So the rows after an adaptive pool
are compared within the extent the whole map reaches, measured as the support of all its units
together.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnzoo
from cnnzoo.analysis import receptive_field, summary
from cnnzoo.analysis.receptive import ReceptiveField
from cnnzoo.errors import InputSizeError, InvalidArgumentError
from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.vgg import CONFIGS, VGG

_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def measurable(model: nn.Module) -> nn.Module:
    """``model`` in float64 with positive random weights and average pooling for max pooling."""
    model = model.double().eval()
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(mod, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(mod, name, nn.AdaptiveAvgPool2d(child.output_size))
            elif isinstance(child, nn.Hardtanh):  # ReLU6 saturates (zero gradient) above 6: ReLU is as pointwise
                setattr(mod, name, nn.ReLU())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.zero_()
                mod.running_var.fill_(1.0)
            for p in mod.parameters(recurse=False):
                fan_in = p[0].numel() if p.ndim > 1 else 1
                p.copy_((torch.rand(p.shape, generator=g, dtype=p.dtype) + 0.5) / fan_in)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def support(out: torch.Tensor, x: torch.Tensor, units: list[tuple[int, ...]]) -> list[tuple[tuple, tuple]]:
    """For each unit (an index into ``out[0]``): ((first row, last row), (first col, last col))
    of the input pixels with a non-zero gradient."""
    cot = torch.zeros((len(units), *out.shape), dtype=out.dtype)
    for k, u in enumerate(units):
        cot[(k, 0, *u) if len(u) == out.ndim - 1 else (k, 0, slice(None), *u)] = 1.0
    (g,) = torch.autograd.grad(out, x, cot, is_grads_batched=True, retain_graph=True)
    spans = []
    for k in range(len(units)):
        hit = g[k, 0].abs().sum(0) != 0
        rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
        spans.append(((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))))
    return spans


def reach(out: torch.Tensor, x: torch.Tensor) -> tuple[tuple, tuple]:
    """((first row, last row), (first col, last col)) of the input pixels that any unit of ``out`` sees."""
    (g,) = torch.autograd.grad(out[0].sum(), x, retain_graph=True)
    hit = g[0].abs().sum(0) != 0
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def clip(span: tuple, n: int) -> tuple[int, int]:
    return max(int(span[0]), 0), min(int(span[1]), n - 1)


def predicted(
    rf: ReceptiveField, unit: tuple[int, int], hw: tuple[int, int], extent: tuple[tuple, tuple] | None = None
) -> tuple[tuple, tuple]:
    """The unit's window, clipped to the image (or to ``extent``, what the whole map reaches)."""
    bounds = extent or ((0, hw[0] - 1), (0, hw[1] - 1))
    if rf.global_context:
        return bounds
    return tuple((max(int(lo), b[0]), min(int(hi), b[1])) for (lo, hi), b in zip(rf.span(*unit), bounds))


def check_rows_after_adaptive_pool(model: nn.Module, size: tuple[int, int, int]) -> list[str]:
    """Every row of the table from the first adaptive pool on: predicted == measured, for every
    unit of a map, the first and last element of a vector. Returns the rows checked."""
    table = summary(model, size, depth=10)
    rows = [r for r in table.layers if r.call == 1 and r.output_shape is not None]
    pools = [i for i, r in enumerate(rows) if isinstance(model.get_submodule(r.name), _ADAPTIVE)]
    after = rows[pools[0] :] if pools else []
    after = [r for r in after if not list(model.get_submodule(r.name).children())]  # the leaves that ran
    net = measurable(model)
    outs: dict[str, torch.Tensor] = {}
    hooks = [
        net.get_submodule(r.name).register_forward_hook(lambda m, i, o, n=r.name: outs.setdefault(n, o)) for r in after
    ]
    x = (torch.rand(1, *size, dtype=torch.float64) + 0.5).requires_grad_(True)
    outs[""] = net(x)
    for h in hooks:
        h.remove()
    checked = []
    cases = [(r.name, r.receptive_field, r.output_shape) for r in after]
    if not pools:  # a pool inside forward_head (F.adaptive_avg_pool2d): the output is after it
        cases.append(("", _output_field(model, size), tuple(table.totals["output_shape"])))
    for name, rf, shape in cases:
        assert rf is not None, f"{name}: no receptive field"
        out = outs[name]
        extent = reach(out, x)
        if len(shape) == 3:
            units = [(i, j) for i in range(shape[1]) for j in range(shape[2])]
            measured = support(out, x, units)
            for u, m in zip(units, measured):
                assert predicted(rf, u, size[1:], extent) == m, f"{name} unit {u} at {size}: {rf}, measured {m}"
        else:
            n = math.prod(shape)
            for k in (0, n - 1):
                if rf.flat is not None:
                    h, w = rf.flat
                    unit = ((k % (h * w)) // w, k % w)
                else:
                    unit = (0, 0)
                (m,) = support(out, x, [(k,)])
                assert predicted(rf, unit, size[1:], extent) == m, f"{name} element {k} at {size}: {rf}, got {m}"
        checked.append(name)
    return checked


def _output_field(model: nn.Module, size: tuple[int, int, int]) -> ReceptiveField:
    from cnnzoo.analysis.trace import trace

    rf = trace(model, size).root.rf
    assert rf is not None
    return rf


NARROW_VGG = tuple(c if c == "M" else c // 16 for c in CONFIGS["D"])
ADAPTIVE_FAMILIES = {
    # name: constructor; narrow widths where the family allows (a field does not depend on widths)
    "vgg16_narrow": lambda: VGG(NARROW_VGG, num_classes=10),
    "alexnet": lambda: cnnzoo.create_model("alexnet", num_classes=10),
    "zfnet": lambda: cnnzoo.create_model("zfnet", num_classes=10),
    "googlenet": lambda: cnnzoo.create_model("googlenet", num_classes=10, aux_logits=False),
    "resnet18": lambda: cnnzoo.create_model("resnet18", num_classes=10),
    "densenet_narrow": lambda: DenseNet(
        growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2, num_classes=10
    ),
    "mobilenet_v2_035": lambda: cnnzoo.create_model("mobilenet_v2", width_mult=0.35, num_classes=10),
}
SIZES = (32, 64, 96, 227)
FAST = {("vgg16_narrow", 32)}  # the others take half a minute each: the slow tier


@pytest.mark.parametrize(
    "family,px",
    [pytest.param(f, px, marks=() if (f, px) in FAST else pytest.mark.slow) for f in ADAPTIVE_FAMILIES for px in SIZES],
)
def test_rows_after_an_adaptive_pool_match_the_gradient(family, px):
    model = ADAPTIVE_FAMILIES[family]()
    size = (3, px, px)
    try:
        checked = check_rows_after_adaptive_pool(model, size)
    except InputSizeError:
        # refused only below the model's own minimum (the smallest input its stack accepts)
        assert px < model.min_input_size[-1]
        return
    assert checked


def test_vgg16_at_32px_the_pool_copies_pool5():
    # pool5 is 1x1 at 32 px; the adaptive pool copies it to 7x7: every unit sees pool5's
    # 212 px, jump 0; fc6 sees the same 212 px (it was 239.43 when the pool was taken for a window)
    rows = {r.name: r.receptive_field for r in summary("vgg16", (3, 32, 32)).layers}
    assert rows["avgpool"] == ReceptiveField((212, 212), (0, 0), (-90, -90))
    assert rows["classifier.0"].size == (212, 212) and rows["classifier.0"].start == (-90, -90)


def test_uneven_adaptive_pool_gives_the_exact_windows():
    # 3x3 convolution (padding 1) then 17 -> 5: PyTorch's bins 0..3, 3..6, 6..10, 10..13,
    # 13..16 of the 17 units, each unit one pixel wider on both sides
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.AdaptiveAvgPool2d(5))
    rf = receptive_field(net, (1, 17, 17))
    windows = ((-1, 4), (2, 7), (5, 11), (9, 14), (12, 17))
    assert not rf.exact and rf.windows == (windows, windows) and rf.size == (7, 7)
    clipped = [clip(w, 17) for w in windows]
    assert clipped == [(0, 4), (2, 7), (5, 11), (9, 14), (12, 16)]  # in the image
    text = str(summary(net, (1, 17, 17)))
    assert "windows per unit: rows and columns -1..4, 2..7, 5..11, 9..14, 12..17" in text and "≤7" in text


# ---------------------------------------------------------------- hand-built modules
class Sandwich(nn.Module):
    """conv3x3 -> op -> conv3x3, no activation (float64, positive weights: nothing cancels)."""

    def __init__(self, op, channels=4, out_channels=4):
        super().__init__()
        self.a = nn.Conv2d(1, channels, 3, padding=1)
        self.op = op
        self.b = nn.Conv2d(out_channels, 2, 3, padding=1)

    def forward(self, x):
        return self.b(self.op(self.a(x)))


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


MIXING = {
    # name: (op, expected: "global" | "exact")
    "groupnorm": (nn.GroupNorm(2, 4), "global"),
    "instancenorm": (nn.InstanceNorm2d(4, affine=True), "global"),
    "layernorm_chw": (nn.LayerNorm([4, 16, 16]), "global"),
    "layernorm_w": (nn.LayerNorm(16), "exact"),
    "batchnorm_training_stats": (Fn(lambda x: F.batch_norm(x, None, None, training=True)), "global"),
    "softmax_width": (nn.Softmax(dim=-1), "exact"),
    "softmax_height": (Fn(lambda x: torch.softmax(x, dim=2)), "exact"),
    "softmax_channels": (nn.Softmax(dim=1), "exact"),
    "cumsum_height": (Fn(lambda x: torch.cumsum(x, dim=2)), "exact"),
    "roll_rows": (Fn(lambda x: torch.roll(x, shifts=5, dims=2)), "exact"),
    "roll_both": (Fn(lambda x: torch.roll(x, shifts=(3, -2), dims=(2, 3))), "exact"),
    "flip_width": (Fn(lambda x: torch.flip(x, dims=(3,))), "exact"),
    "reflect_pad": (Fn(lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect")), "exact"),
    "circular_pad": (Fn(lambda x: F.pad(x, (2, 2, 2, 2), mode="circular")), "exact"),
    "upsample_nearest": (nn.Upsample(scale_factor=2), "exact"),
    "upsample_bilinear": (nn.Upsample(scale_factor=2, mode="bilinear"), "exact"),
    "upsample_bilinear_corners": (nn.Upsample(size=(23, 29), mode="bilinear", align_corners=True), "exact"),
    "interpolate_bicubic_1_5": (Fn(lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic")), "exact"),
    "interpolate_area": (Fn(lambda x: F.interpolate(x, size=(7, 9), mode="area")), "exact"),
    "conv_transpose_k4_s2": (nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1), "exact"),
    "conv_transpose_k3_s2": (nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1), "exact"),
    "pixel_shuffle": (nn.PixelShuffle(2), "exact"),
    "pixel_unshuffle": (nn.PixelUnshuffle(2), "exact"),
    "adaptive_17_to_5": (nn.AdaptiveAvgPool2d(5), "exact"),
    # a mask from a comparison and a constant made from the map's shape: pointwise, no field of their own
    "mask_plus_zeros_like": (Fn(lambda x: x * (x > 0) + torch.zeros_like(x)), "exact"),
}
OUT_CHANNELS = {"pixel_shuffle": 1, "pixel_unshuffle": 16}


@pytest.mark.parametrize("case", sorted(MIXING))
def test_mixing_and_resampling_are_flagged_or_exact(case):
    op, expect = MIXING[case]
    size = (1, 16, 16) if case != "adaptive_17_to_5" else (1, 17, 17)
    net = Sandwich(op, out_channels=OUT_CHANNELS.get(case, 4))
    rf = receptive_field(net, size)
    assert rf.global_context == (expect == "global"), f"{case}: {rf}"
    measured_net = measurable(net)
    x = (torch.rand(1, *size, dtype=torch.float64) + 0.5).requires_grad_(True)
    out = measured_net(x)
    units = [(i, j) for i in range(out.shape[2]) for j in range(out.shape[3])]
    for u, m in zip(units, support(out, x, units)):
        assert predicted(rf, u, size[1:]) == m, f"{case} unit {u}: predicted {rf.span(*u)}, measured {m}"
    if expect == "global":
        assert rf.size == (5, 5)  # the convolutional path, as for SE's squeeze


def test_mixing_ops_are_not_taken_for_pointwise():
    # the 5-pixel field of conv -> op -> conv was reported for all of these
    for case in ("softmax_width", "cumsum_height", "roll_rows"):
        rf = receptive_field(Sandwich(MIXING[case][0]), (1, 16, 16))
        assert rf.size != (5, 5) or not rf.exact, case
    row = receptive_field(Sandwich(nn.Softmax(dim=-1)), (1, 16, 16))
    assert row.size == (5, 16 + 2) and row.jump == (1, 0)  # whole rows (with the padding of both convs)


@pytest.mark.parametrize(
    "op",
    [
        Fn(lambda x: torch.sort(x, dim=-1).values),  # mixes along the width in a way not modelled
        Fn(lambda x: torch.fft.fft2(x).real),
        Fn(lambda x: x.transpose(2, 3)),
        Fn(lambda x: torch.roll(x, 3)),  # a roll of the flattened tensor
    ],
)
def test_unknown_operations_stay_unknown(op):
    with pytest.raises(InvalidArgumentError, match="unknown"):
        receptive_field(Sandwich(op), (1, 16, 16))


def shifted_in_place(x):
    out = torch.zeros_like(x)
    out[...] = torch.flip(x, dims=(3,))  # a field written into a constant: where it lands is not followed
    return x + out  # (taken for a constant, out would leave x's field: wrong, not unknown)


def test_a_map_written_into_a_tensor_in_place_is_unknown():
    with pytest.raises(InvalidArgumentError, match="what __setitem__ does to the image axes"):
        receptive_field(Sandwich(Fn(shifted_in_place)), (1, 16, 16))


def test_the_message_names_the_operation():
    with pytest.raises(InvalidArgumentError, match="what sort does to the image axes"):
        receptive_field(Sandwich(Fn(lambda x: torch.sort(x, dim=-1).values)), (1, 16, 16))


def test_a_flatten_row_keeps_each_elements_field():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    rows = {r.name: r.receptive_field for r in summary(net, (1, 8, 8)).layers}
    assert rows["1"].flat == (6, 6) and rows["1"].size == (3, 3) and rows["1"].jump == (1, 1)
    assert rows["2"].flat is None and rows["2"].size == (8, 8)  # the linear layer sees every unit
    assert "†" in str(summary(net, (1, 8, 8)))


def test_lenet5_paper_has_a_field_on_its_output_row():
    model = cnnzoo.create_model("lenet5", variant="paper")
    table = summary(model, (1, 32, 32), depth=3)
    rows = {r.name: r.receptive_field for r in table.layers}
    assert rows["output"] is not None and rows["output"].size == (32, 32)
    assert rows["output"] == rows["f6"]


def test_summary_accepts_the_batch_dimension():
    with torch.device("meta"):
        net = cnnzoo.create_model("resnet18")
    with_batch = summary(net, (1, 3, 32, 32))
    assert with_batch.input_size == (3, 32, 32)
    assert with_batch.to_dict() == summary(net, (3, 32, 32)).to_dict()
    with pytest.raises(InvalidArgumentError):
        summary(net, (0, 3, 32, 32))
