"""Receptive fields: the propagated numbers against an independent, gradient-based measurement.

The measurement: copy the model, make every convolution/linear weight positive (all equal,
1/fan_in), batch norm the identity, max pooling average pooling (same window: the same
receptive field, but the gradient reaches the whole window, not only the argmax) and
ReLU6 plain ReLU (so that nothing saturates); feed a positive input, back-propagate from
the centre unit of a layer's output and find the rows and columns where the input
gradient is non-zero. With positive weights and activations nothing cancels, so that
extent is exactly the receptive field of the centre unit, clipped to the image.
"""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import cnnzoo
from cnnzoo.analysis import receptive_field, stage_names, summary
from cnnzoo.analysis.receptive import ReceptiveField
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.layers import SqueezeExcitation
from cnnzoo.models.vgg import CONFIGS, VGG


def positive_copy(model, dtype, detach_squeeze=False):
    m = copy.deepcopy(model).to(dtype).eval()
    for mod in list(m.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(mod, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d):
                setattr(mod, name, nn.AdaptiveAvgPool2d(child.output_size))
            elif isinstance(child, (nn.ReLU6, nn.Hardtanh)):
                setattr(mod, name, nn.ReLU())
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.weight.fill_(1.0 / mod.weight[0].numel())
                if mod.bias is not None:
                    mod.bias.zero_()
        for mod in m.modules():
            if isinstance(mod, SqueezeExcitation):
                # keep the excitation's sigmoid away from saturation (activations grow with
                # depth here), so that the gradient through the squeeze does not underflow
                mod.fc1.weight.mul_(1e-3)
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.zero_()
                mod.running_var.fill_(1.0)
                mod.weight.fill_(1.0)
                mod.bias.zero_()
    if detach_squeeze:
        # keep the excitation's values but cut the gradient through its global pooling, so
        # that only the convolutional path is measured: x * (se(x) / x), the gate detached
        for mod in m.modules():
            if isinstance(mod, SqueezeExcitation):
                orig = mod.forward
                mod.forward = lambda x, orig=orig: x * (orig(x.detach()) / x.detach()).detach()
    return m


def measured_spans(model, size, layers, dtype):
    """{layer: ((first row, last row), (first col, last col), (centre row, centre col))}."""
    outs = {}
    hooks = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o)) for n in layers]
    x = torch.ones(1, *size, dtype=dtype, requires_grad=True)
    model.forward_features(x)
    for h in hooks:
        h.remove()
    spans = {}
    for n in layers:
        o = outs[n]
        ci, cj = o.shape[-2] // 2, o.shape[-1] // 2
        (g,) = torch.autograd.grad(o[0, :, ci, cj].sum(), x, retain_graph=True)
        hit = g[0].abs().sum(0) != 0
        rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
        spans[n] = ((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())), (ci, cj))
    return spans


def check_agreement(model, size, dtype=torch.float32):
    """Every stage output and the final feature map: predicted span == measured span."""
    table = summary(model, size, depth=10)
    fields = {r.name: r.receptive_field for r in table.layers}
    layers = stage_names(model, size)
    assert len(layers) >= 3
    glob = any(fields[n].global_context for n in layers)
    for detach in [False, True] if glob else [False]:
        spans = measured_spans(positive_copy(model, dtype, detach_squeeze=detach), size, layers, dtype)
        for n in layers:
            rf = fields[n]
            rows, cols, (ci, cj) = spans[n]
            if rf.global_context and not detach:
                # the squeeze's global pooling reaches every pixel: the whole image
                assert rows == (0, size[1] - 1) and cols == (0, size[2] - 1), n
                continue
            pr, pc = rf.span(ci, cj)
            clip_r = (max(pr[0], 0), min(pr[1], size[1] - 1))
            clip_c = (max(pc[0], 0), min(pc[1], size[2] - 1))
            assert (clip_r, clip_c) == (rows, cols), f"{n}: predicted {rf}, measured {rows} {cols}"
    return fields, layers


FAMILY_CASES = {
    # name: (constructor, input size, dtype); narrow widths where the family allows (the
    # field does not depend on widths), float64 where a deep stack would underflow float32
    "lenet5": (lambda: cnnzoo.create_model("lenet5"), (1, 32, 32), torch.float32),
    "alexnet_original": (lambda: cnnzoo.create_model("alexnet_original"), (3, 227, 227), torch.float32),
    "zfnet": (lambda: cnnzoo.create_model("zfnet"), (3, 128, 128), torch.float32),
    "vgg16_narrow": (
        lambda: VGG(tuple(c if c == "M" else c // 16 for c in CONFIGS["D"])),
        (3, 224, 224),
        torch.float32,
    ),
    "googlenet": (lambda: cnnzoo.create_model("googlenet"), (3, 96, 96), torch.float32),
    "resnet18": (lambda: cnnzoo.create_model("resnet18"), (3, 96, 96), torch.float32),
    "resnet18v2": (lambda: cnnzoo.create_model("resnet18v2"), (3, 96, 96), torch.float32),
    "resnext50_32x4d": (lambda: cnnzoo.create_model("resnext50_32x4d"), (3, 64, 64), torch.float32),
    "se_resnet18": (lambda: cnnzoo.create_model("se_resnet18"), (3, 96, 96), torch.float32),
    "se_resnet50": (lambda: cnnzoo.create_model("se_resnet50"), (3, 64, 64), torch.float32),
    "densenet121_narrow": (
        lambda: DenseNet(growth_rate=4, block_config=(6, 12, 24, 16), num_init_features=8, bn_size=2),
        (3, 96, 96),
        torch.float64,
    ),
    "mobilenet_v1_025": (lambda: cnnzoo.create_model("mobilenet_v1_025"), (3, 96, 96), torch.float32),
    "mobilenet_v2_035": (lambda: cnnzoo.create_model("mobilenet_v2", width_mult=0.35), (3, 96, 96), torch.float32),
}


@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_receptive_field_agrees_with_gradient(case):
    make, size, dtype = FAMILY_CASES[case]
    fields, layers = check_agreement(make(), size, dtype)
    if case == "vgg16_narrow":
        # the published 212 px of pool5, measured: unclipped at 224 (centre unit 3 of 7 sees 6..217)
        rf = fields["features.30"]
        assert layers[-1] == "features.30" and rf.size == (212, 212) and rf.span(3, 3)[0] == (6, 217)


def test_every_family_is_covered():
    families = set()
    for make, _, _ in FAMILY_CASES.values():
        with torch.device("meta"):
            m = make()
        families.add(type(m).__name__)
    assert families >= {
        "LeNet5",
        "AlexNet",
        "ZFNet",
        "VGG",
        "GoogLeNet",
        "ResNet",
        "DenseNet",
        "MobileNetV1",
        "MobileNetV2",
    }


def test_published_reference_points():
    # Araujo, Norris, Sim, "Computing Receptive Fields of CNNs" (Distill 2019) and its table
    # (google-research/receptive_field, receptive_field/RECEPTIVE_FIELD_TABLE.md): AlexNet pool5
    # 195 px; VGG-16 pool5 212 px, effective stride 32, effective padding 90 (= -start); VGG-A
    # (VGG-11) pool5 150, 32, 59; resnet_v1_50 block4 483, 32, 239.
    assert receptive_field("alexnet", layer="features.12").size == (195, 195)
    vgg16 = receptive_field("vgg16", layer="features.30")
    assert (vgg16.size, vgg16.jump, vgg16.start) == ((212, 212), (32, 32), (-90, -90))
    assert receptive_field("vgg16") == vgg16  # the final feature map is pool5
    vgg11 = receptive_field("vgg11")
    assert (vgg11.size, vgg11.jump, vgg11.start) == ((150, 150), (32, 32), (-59, -59))
    # the Caffe-layout SE-ResNet-50 (stride on the first 1x1) has resnet_v1_50's geometry;
    # torchvision's v1.5 ResNet-50 (stride on the 3x3) sees less: 427
    se50 = receptive_field("se_resnet50")
    assert (se50.size, se50.start, se50.global_context) == ((483, 483), (-239, -239), True)
    assert receptive_field("resnet50").size == (427, 427)


# ---------------------------------------------------------------- the rules, on small nets
class Tiny(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward_features(self, x):
        return self.body(x)

    def forward_head(self, x):
        return x.mean((2, 3))

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def test_chain_rules_by_hand():
    # conv7 s2 p3 -> maxpool3 s2 p1 -> dilated conv3 d2 p2: r = 7, 11, 11 + 2*2*4 = 27
    body = nn.Sequential(nn.Conv2d(1, 2, 7, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Conv2d(2, 2, 3, padding=2, dilation=2))
    rf = receptive_field(Tiny(body), (1, 64, 64))
    assert rf == ReceptiveField((27, 27), (4, 4), (-3 - 2 - 8, -3 - 2 - 8))


def test_residual_merge_takes_the_largest_path():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 1, 3, padding=1)
            self.b = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return x + self.b(self.a(x))

    rf = receptive_field(Tiny(Block()), (1, 16, 16))
    assert rf.size == (5, 5) and rf.start == (-2, -2)


def test_asymmetric_kernels_and_padding():
    body = nn.Sequential(nn.Conv2d(1, 1, (1, 7), padding=(0, 3)), nn.Conv2d(1, 1, (5, 1), stride=(2, 1)))
    rf = receptive_field(Tiny(body), (1, 32, 32))
    assert rf.size == (5, 7) and rf.jump == (2, 1) and rf.start == (0, -3)


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_pad_and_same_padding():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 4, padding="same")

        def forward(self, x):
            return self.conv(F.pad(x, (2, 2, 1, 1)))

    rf = receptive_field(Tiny(Net()), (1, 16, 16))
    # 'same' with an even kernel pads 1 before, 2 after (PyTorch); F.pad adds 1 row, 2 columns
    assert rf.size == (4, 4) and rf.start == (-1 - 1, -2 - 1)


def test_unknown_resampling_is_reported_not_guessed():
    body = nn.Sequential(nn.Conv2d(1, 1, 3), nn.FractionalMaxPool2d(2, output_size=7))  # random windows
    with pytest.raises(InvalidArgumentError, match="unknown"):
        receptive_field(Tiny(body), (1, 16, 16))


def test_squeeze_excitation_flags_global_context():
    body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), SqueezeExcitation(4, rd_channels=2))
    rf = receptive_field(Tiny(body), (4, 16, 16))
    assert rf.global_context and rf.size == (3, 3)
