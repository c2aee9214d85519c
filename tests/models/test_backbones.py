"""Networks as backbones: feature_info, forward_intermediates, prune_intermediate_layers, features_only.

Shapes, module names and strides run on every registered model on the meta device; values,
the compilers and a real consumer (torchvision's FPN and Faster R-CNN) on a few small ones.
"""

import pytest
import torch
from helpers import (
    BIG_HEADS,
    REPRESENTATIVES,
    SLOW_REPRESENTATIVES,
    meta_input,
    meta_model,
    n_params,
    randomise,
    registry_params,
)
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.backbone import FeatureDictNet, FeatureInfo, FeatureListNet, feature_take_indices
from cnnzoo.models.base import first_conv_name
from cnnzoo.models.densenet import DenseNet

ALL = registry_params(cnnzoo.list_models())
#: one network per way of running the stages (a features stack, LeNet's, ResNet's, GoogLeNet's,
#: DenseNet's final ReLU, v2's final BN-ReLU, the CIFAR stem)
PATHS = [
    "lenet5",
    "alexnet_original",
    "vgg11_bn",
    "googlenet",
    "resnet18v2",
    "resnet20",
    "densenet_bc_100_k12",
    "mobilenet_v2",
    "mobilenet_v1_025",
]


def _input(model: nn.Module, batch: int = 2, grow: int = 0) -> torch.Tensor:
    c, h, w = model.min_input_size
    return torch.randn(batch, c, max(h, 32) + grow, max(w, 32) + grow)


@pytest.mark.parametrize("name", ALL)
def test_feature_info_is_what_the_forward_produces(name):
    """features_only on every network (meta device): each map is its module's output, with
    num_chs channels; only the head's weights are gone."""
    full = meta_model(name)
    model = meta_model(name, features_only=True).eval()
    info = model.feature_info
    assert isinstance(model, FeatureListNet) and isinstance(info, FeatureInfo)
    assert info.out_indices == tuple(range(len(info))) and [f["index"] for f in info.info] == list(info.out_indices)
    assert info.reduction() == sorted(info.reduction()) and info.channels()[-1] == full.num_features
    modules = dict(model.model.named_modules())
    seen: dict[int, torch.Tensor] = {}
    ran: set[str] = set()

    def record(key: int | str):  # hooks that return None, so the outputs stay the modules' own
        def hook(module, args, output):
            if isinstance(key, int):
                seen.setdefault(key, output)
            else:
                ran.add(key)

        return hook

    hooks = [modules[m].register_forward_hook(record(k)) for k, m in enumerate(info.module_name())]
    hooks += [module.register_forward_hook(record(n)) for n, module in model.model.named_modules()]
    x = _input(full).to("meta")
    maps = model(x)
    for h in hooks:
        h.remove()
    assert len(maps) == len(info)
    for k, (m, chs) in enumerate(zip(maps, info.channels())):
        assert seen[k] is m, f"stage {k}: {info.module_name(k)}'s output is not the map returned"
        assert m.shape[:2] == (2, chs)
    # the head goes, nothing else: the weights kept are those of the layers the stages run
    kept = {k.removeprefix("model.") for k in model.state_dict()}
    assert kept == {k for k in full.state_dict() if k.rpartition(".")[0] in ran}
    assert kept != set(full.state_dict()), "no head was dropped"


@pytest.mark.parametrize(
    "name,kw",
    [pytest.param(n, {}, marks=pytest.mark.slow) if n in SLOW_REPRESENTATIVES else (n, {}) for n in REPRESENTATIVES]
    + [
        ("zfnet_wide", {}),
        ("vgg11_lrn", {}),
        ("vgg16_c", {}),
        pytest.param("senet154", {}, marks=pytest.mark.slow),  # 154 layers: 5 s
        ("googlenet", {"variant": "paper"}),
        ("resnet50", {"output_stride": 8}),
        ("resnet18v2", {"replace_stride_with_dilation": [False, False, True]}),
    ],
)
def test_feature_info_strides_are_measured(name, kw):
    """The declared reduction is the stride: growing the input by 64 pixels grows each map by
    64 / reduction (whatever padding does to the size itself: LeNet's, AlexNet's maps)."""
    model = meta_model(name, **kw)
    x = _input(model).to("meta")
    small = model.forward_intermediates(x, intermediates_only=True)
    big = model.forward_intermediates(_input(model, grow=64).to("meta"), intermediates_only=True)
    reductions = [f["reduction"] for f in model.feature_info]
    assert [b.shape[-1] - s.shape[-1] for s, b in zip(small, big)] == [64 // r for r in reductions]
    assert [b.shape[-2] - s.shape[-2] for s, b in zip(small, big)] == [64 // r for r in reductions]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in BIG_HEADS else n for n in PATHS])
def test_forward_intermediates_values(name):
    """timm's semantics: the final map is forward_features'; indices as timm reads them;
    stop_early stops after the last stage asked for; features_only returns the same maps."""
    model = randomise(cnnzoo.create_model(name, num_classes=3))
    x = _input(model)
    n = len(model.feature_info)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x), rtol=0, atol=0)
        last = nn.functional.relu(maps[-1]) if isinstance(model, DenseNet) else maps[-1]
        torch.testing.assert_close(last, final, rtol=0, atol=0)  # (DenseNet: norm5, then its ReLU)
        for indices, expect in [(2, [n - 2, n - 1]), ([0, -1], [0, n - 1]), ((1,), [1])]:
            got = model.forward_intermediates(x, indices=indices, intermediates_only=True)
            assert [g.shape for g in got] == [maps[i].shape for i in expect]
            assert all(torch.equal(g, maps[i]) for g, i in zip(got, expect))
        early, taken = model.forward_intermediates(x, indices=[0, 1], stop_early=True)
        assert torch.equal(early, taken[-1]) and torch.equal(taken[1], maps[1])
        extractor = cnnzoo.create_model(name, num_classes=3, features_only=True, out_indices=(0, -1))
        extractor.model.load_state_dict(model.state_dict(), strict=False)
        got = extractor.eval()(x)
    assert [g.shape for g in got] == [maps[0].shape, maps[-1].shape]
    assert torch.equal(got[0], maps[0]) and torch.equal(got[1], maps[-1])


def test_norm_applies_densenets_final_relu():
    model = randomise(cnnzoo.create_model("densenet_bc_100_k12"))
    x = _input(model)
    with torch.no_grad():
        raw = model.forward_intermediates(x, intermediates_only=True)[-1]
        normed = model.forward_intermediates(x, norm=True, intermediates_only=True)[-1]
    assert (raw < 0).any() and torch.equal(normed, raw.relu())


def test_feature_take_indices_is_timms_rule():
    assert feature_take_indices(5) == ([0, 1, 2, 3, 4], 4)
    assert feature_take_indices(5, 2) == ([3, 4], 4)
    assert feature_take_indices(5, [-1, 1]) == ([4, 1], 4)
    for bad in (0, 6, [5], [-6], [1, 1], [], "1", True, [1.0]):
        with pytest.raises(InvalidArgumentError):
            feature_take_indices(5, bad)


def test_feature_info_interface():
    info = FeatureInfo(
        [
            dict(num_chs=8, reduction=2, module="a"),
            dict(num_chs=16, reduction=4, module="b"),
            dict(num_chs=32, reduction=8, module="c"),
        ],
        (0, 2),
    )
    assert info.channels() == [8, 32] and info.reduction() == [2, 8] and info.module_name() == ["a", "c"]
    assert info.channels(1) == 16 and info.reduction([0, 1]) == [2, 4] and len(info) == 3 and info[1]["module"] == "b"
    assert info.get_dicts(keys=["num_chs"]) == [{"num_chs": 8}, {"num_chs": 32}]
    assert info.from_other((1,)).channels() == [16]


def test_prune_intermediate_layers():
    model = randomise(cnnzoo.create_model("resnet18"))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        layer2 = model.forward_intermediates(x, indices=[2], intermediates_only=True)[0]
    assert model.prune_intermediate_layers([1, -3]) == [1, 2]
    assert len(model.feature_info) == 3 and model.num_features == 128 and model.head_hidden_size == 128
    assert n_params(model.layer3) == n_params(model.layer4) == 0 and isinstance(model.get_classifier(), nn.Identity)
    with torch.no_grad():
        torch.testing.assert_close(model(x), layer2, rtol=0, atol=0)  # forward ends at the last kept stage
    with pytest.raises(InvalidArgumentError, match="pruned|removed"):
        model.reset_classifier(10)
    with pytest.raises(InvalidArgumentError, match="0..2"):
        model.forward_intermediates(x, indices=[3])
    vgg = meta_model("vgg11")
    assert vgg.prune_intermediate_layers(prune_head=True) == [5]  # (timm's default: the last stage)
    assert n_params(vgg) == n_params(vgg.features)  # fc6 and fc7 went with fc8
    googlenet = meta_model("googlenet")
    googlenet.prune_intermediate_layers(None)
    assert googlenet.aux1 is None and googlenet.train()(meta_input(1, 3, 64, 64)).shape == (1, 1024, 2, 2)


def test_pretrained_weights_load_into_the_feature_extractor(tmp_path):
    """The weights load into the whole network, then the head goes (and the stages not asked for)."""
    source = randomise(cnnzoo.create_model("resnet18"))
    path = tmp_path / "resnet18-random.pth"
    torch.save(source.state_dict(), path)
    backbone = cnnzoo.create_model("resnet18", pretrained=str(path), features_only=True, out_indices=(1, 2))
    kept = backbone.state_dict()
    assert {k.removeprefix("model.") for k in kept} == {
        k for k in source.state_dict() if k.split(".")[0] not in ("fc", "layer3", "layer4")
    }
    assert all(torch.equal(v, source.state_dict()[k.removeprefix("model.")]) for k, v in kept.items())
    cfg = backbone.pretrained_cfg
    assert cfg["file"].endswith("resnet18-random.pth") and "classifier" not in cfg
    # the shipped LeNet-5 weights (no download)
    lenet = cnnzoo.create_model("lenet5", pretrained=True).eval()
    digits = cnnzoo.create_model("lenet5", pretrained=True, features_only=True, feature_cls="dict").eval()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        expected = lenet.forward_intermediates(x, intermediates_only=True)
        got = digits(x)
    assert isinstance(digits, FeatureDictNet) and list(got) == ["0", "1", "2"]
    assert all(torch.equal(g, e) for g, e in zip(got.values(), expected))


def test_features_only_arguments_are_checked():
    with pytest.raises(InvalidArgumentError, match="features_only"):
        cnnzoo.create_model("resnet18", out_indices=(1, 2))
    with pytest.raises(InvalidArgumentError, match="feature_cls"):
        meta_model("resnet18", features_only=True, feature_cls="hook")
    with pytest.raises(InvalidArgumentError, match="0..4"):
        meta_model("resnet18", features_only=True, out_indices=(1, 5))
    with pytest.raises(InvalidArgumentError, match="NCHW"):
        meta_model("resnet18").forward_intermediates(meta_input(1, 3, 32, 32), output_fmt="NHWC")


# --------------------------------------------------------------------------- dilation


def test_replace_stride_with_dilation_matches_torchvision():
    import torchvision

    theirs = randomise(torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True]))
    ours = cnnzoo.create_model("resnet50", replace_stride_with_dilation=[False, True, True]).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
        maps = ours.forward_intermediates(x, intermediates_only=True)
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 8, 8] and ours.feature_info[-1]["reduction"] == 8


def test_output_stride_and_dilated_basic_blocks():
    os16 = meta_model("resnet18", output_stride=16)
    same = meta_model("resnet18", replace_stride_with_dilation=[False, False, True])
    assert str(os16) == str(same) and [f["reduction"] for f in os16.feature_info] == [2, 4, 8, 16, 16]
    os8 = meta_model("resnet18", output_stride=8)
    # the basic block (which torchvision refuses to dilate): the strided conv keeps the old dilation
    assert (
        os8.layer3[0].conv1.dilation,
        os8.layer3[0].conv2.dilation,
        os8.layer4[0].conv1.dilation,
        os8.layer4[1].conv1.dilation,
    ) == ((1, 1), (2, 2), (2, 2), (4, 4))
    assert os8(meta_input(1, 3, 64, 64)).shape == (1, 1000)
    assert meta_model("resnet20", output_stride=1).feature_info[-1]["reduction"] == 1
    for kw, match in [
        ({"output_stride": 12}, "32, 16, 8, 4"),
        ({"replace_stride_with_dilation": [True]}, "3 booleans"),
        ({"replace_stride_with_dilation": [0, 1, 1]}, "booleans"),
        ({"output_stride": 8, "replace_stride_with_dilation": [False, True, True]}, "not both"),
    ]:
        with pytest.raises(InvalidArgumentError, match=match):
            meta_model("resnet50", **kw)
    with pytest.raises(InvalidArgumentError, match="replace_stride_with_dilation"):
        meta_model("vgg11", replace_stride_with_dilation=[False, True, True])


# --------------------------------------------------------------------------- compilers


def test_compile_fullgraph():
    """forward_intermediates and a features_only network compile without graph breaks."""
    model = cnnzoo.create_model("resnet20").eval()
    backbone = cnnzoo.create_model("resnet20", features_only=True, out_indices=(1, 3)).eval()
    backbone.model.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    torch.compiler.reset()
    intermediates = torch.compile(model.forward_intermediates, backend="eager", fullgraph=True)
    compiled = torch.compile(backbone, backend="eager", fullgraph=True)
    with torch.no_grad():
        final, maps = intermediates(x, indices=[1, 3])
        torch.testing.assert_close(final, model.forward_features(x))
        for a, b in zip(compiled(x), maps):
            torch.testing.assert_close(a, b)


def _tiny_densenet() -> nn.Module:
    return DenseNet(8, (2, 3), 16, 2, stem="cifar", num_classes=10)


@pytest.mark.parametrize("name", ["densenet", "resnet20"])
def test_torchscript_backbones(name):
    """features_only extractors script (dict output here; the list one in test_fx_...), the
    DenseNet among them now that its checkpointing is outside what TorchScript compiles."""
    if name == "densenet":
        model, backbone = _tiny_densenet().eval(), FeatureDictNet(_tiny_densenet()).eval()
    else:
        model = cnnzoo.create_model(name, num_classes=10).eval()
        backbone = cnnzoo.create_model(name, features_only=True, feature_cls="dict").eval()
    backbone.model.load_state_dict(model.state_dict(), strict=False)
    x = _input(model, batch=1)
    scripted, scripted_backbone = torch.jit.script(model), torch.jit.script(backbone)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
        maps = model.forward_intermediates(x, intermediates_only=True)
        got = scripted_backbone(x)
    assert list(got) == [str(i) for i in range(len(maps))]
    for a, b in zip(got.values(), maps):
        torch.testing.assert_close(a, b)


def test_googlenet_scripts():
    """GoogLeNet scripts (its outputs' annotations are real types now): the logits in eval
    mode, GoogLeNetOutputs in training mode."""
    model = cnnzoo.create_model("googlenet", num_classes=5).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))
    out = scripted.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 5)] * 3


@pytest.mark.parametrize("name", ["resnet20", "googlenet", "lenet5"])
def test_fx_traced_extractors_script(name):
    """FX-traced extractors (torchvision's create_feature_extractor, cnnzoo.features) script,
    now that forward's annotations are real types; FX traces the features_only network too."""
    from torchvision.models.feature_extraction import create_feature_extractor

    model = randomise(cnnzoo.create_model(name))
    names = [f["module"] for f in model.feature_info[:2]]  # the first two stages: small graphs
    x = _input(model, batch=1)
    with torch.no_grad():
        expected = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
        for extractor in (create_feature_extractor(model, names), cnnzoo.features(model, names)):
            out = torch.jit.script(extractor)(x)
            for n, e in zip(names, expected):
                torch.testing.assert_close(out[n], e)
        backbone = cnnzoo.create_model(name, features_only=True, out_indices=(0, 1))
        backbone.model.load_state_dict(model.state_dict(), strict=False)
        traced = torch.fx.symbolic_trace(backbone.eval())
        assert all(torch.equal(a, b) for a, b in zip(traced(x), backbone(x)))


# --------------------------------------------------------------------------- a real consumer


class _BackboneWithFPN(nn.Module):
    """A cnnzoo feature extractor and torchvision's FPN: what torchvision's detectors take."""

    def __init__(self, name: str, out_indices: tuple[int, ...], out_channels: int = 32) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.body = cnnzoo.create_model(name, features_only=True, out_indices=out_indices, feature_cls="dict")
        self.fpn = FeaturePyramidNetwork(
            self.body.feature_info.channels(), out_channels, extra_blocks=LastLevelMaxPool()
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.fpn(self.body(x))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_faster_rcnn_with_fpn_on_a_cnnzoo_backbone(name):
    """torchvision's FeaturePyramidNetwork and FasterRCNN (random weights, CPU, 96x96 images) on
    four stages of a cnnzoo network: a training step lowers nothing to NaN and reaches the
    backbone's weights; eval gives detections."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.ops import MultiScaleRoIAlign

    backbone = _BackboneWithFPN(name, (1, 2, 3, 4))
    keys = [str(i) for i in (1, 2, 3, 4)]
    detector = FasterRCNN(
        backbone,
        num_classes=3,
        min_size=96,
        max_size=96,
        box_roi_pool=MultiScaleRoIAlign(keys, output_size=7, sampling_ratio=2),
        rpn_pre_nms_top_n_train=64,
        rpn_post_nms_top_n_train=32,
        box_batch_size_per_image=16,
        rpn_pre_nms_top_n_test=64,
        rpn_post_nms_top_n_test=32,
    )
    images = [torch.rand(3, 96, 96), torch.rand(3, 80, 96)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[5.0, 5.0, 40.0, 30.0], [30.0, 20.0, 90.0, 75.0]]), "labels": torch.tensor([2, 1])},
    ]
    detector.train()
    optimizer = torch.optim.SGD(detector.parameters(), lr=0.01, momentum=0.9)
    losses = detector(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    loss = sum(losses.values())
    assert torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    # the gradient reaches the network's first convolution
    first = backbone.body.model.get_submodule(first_conv_name(backbone.body.model))
    grads = [p.grad for p in first.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    optimizer.step()
    detector.eval()
    with torch.no_grad():
        detections = detector(images)
    assert len(detections) == 2
    for d in detections:
        assert set(d) == {"boxes", "labels", "scores"} and d["boxes"].shape[1:] == (4,)
        assert len(d["boxes"]) == len(d["labels"]) == len(d["scores"])
        assert torch.isfinite(d["boxes"]).all()
    # the FPN saw one map per stage asked for, at their strides
    with torch.no_grad():
        pyramid = backbone(torch.rand(1, 3, 96, 96))
    assert list(pyramid) == [*keys, "pool"] and [p.shape[1] for p in pyramid.values()] == [32] * 5
    assert [p.shape[-1] for p in pyramid.values()][:4] == [96 // r for r in backbone.body.feature_info.reduction()]


def test_backbone_follows_dtype_and_returns_the_last_n_stages():
    backbone = cnnzoo.create_model("mobilenet_v1_025", features_only=True, out_indices=3)
    assert backbone.feature_info.out_indices == (2, 3, 4)
    out = backbone.double().eval()(torch.randn(1, 3, 64, 64, dtype=torch.float64))
    assert [o.dtype for o in out] == [torch.float64] * 3
    assert [tuple(o.shape[1:]) for o in out] == [(64, 8, 8), (128, 4, 4), (256, 2, 2)]
