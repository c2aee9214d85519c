"""The pictures a teacher puts on a slide: maps on the original image with caption and colour
bar, saliency without the strided-convolution checkerboard, charts whose labels do not collide."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis.saliency import saliency
from cnnzoo.apps.predict import explanation_figure, map_on_original, predict

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def lenet():
    return cnnzoo.create_model("lenet5", pretrained=True)


@pytest.fixture(scope="module")
def wide_digit(tmp_path_factory):
    """A validation digit enlarged to 64 x 64 in the middle of a 120 x 64 canvas: an image that is
    not the model's 32 x 32 input, so the map has to be resized back onto it."""
    from cnnzoo.apps.samples import write_samples
    from cnnzoo.data import read_image
    from cnnzoo.data.decode import encode_png

    folder = tmp_path_factory.mktemp("digits")
    path = write_samples(folder, "digits", 4)[3]  # a 3
    digit = read_image(path, 1).float()
    big = torch.nn.functional.interpolate(digit[None], size=(64, 64), mode="bilinear", align_corners=False)[0]
    canvas = torch.zeros(1, 64, 120)
    canvas[:, :, 28:92] = big
    out = folder / "wide3.png"
    out.write_bytes(encode_png(canvas.round().clamp(0, 255).to(torch.uint8)))
    return out


def _overlay_image(fig):
    ax_map = fig.axes[1]
    return ax_map.get_images()[-1].get_array()


def test_cam_is_drawn_on_the_original_image_with_caption_and_colour_bar(lenet, wide_digit):
    fig = explanation_figure(lenet, wide_digit, "cam")
    overlay = _overlay_image(fig)
    assert overlay.shape[:2] == (64, 120)  # the original's height x width, not the model's 32 x 32
    # lenet5.digits resizes the shorter side to 32 and centre-crops: the model saw columns 28..91;
    # outside them nothing is coloured (alpha 0), inside the map is
    alpha = torch.as_tensor(overlay[..., 3])
    assert alpha[:, :27].max() == 0 and alpha[:, 93:].max() == 0 and alpha[:, 30:90].max() > 0.5
    top = predict(lenet, [wide_digit], topk=1)[0]["top"][0]
    caption = fig._suptitle.get_text()
    assert "lenet5" in caption and "lenet5.digits" in caption
    assert f"predicted: class {top['index']}, p = {top['prob']:.3f}" in caption
    meta = fig.cnnzoo_meta
    assert meta["predicted"] == top["index"] and meta["score"] == pytest.approx(top["prob"], abs=1e-4)
    bar = meta["colorbar"]
    assert bar.ax in fig.axes and "Grad-CAM" in bar.ax.get_ylabel()
    assert bar.mappable.norm.vmin == 0 and bar.mappable.norm.vmax == 1


def test_caption_names_the_target_class_when_one_is_given(lenet, wide_digit):
    predicted = predict(lenet, [wide_digit], topk=1)[0]["top"][0]["index"]
    other = (predicted + 1) % 10
    fig = explanation_figure(lenet, wide_digit, "saliency", target=other, smoothgrad_samples=2)
    caption = fig._suptitle.get_text()
    assert f"explained class: class {other}, p = " in caption
    assert "SmoothGrad over 2 noisy copies" in caption
    assert fig.cnnzoo_meta["target"] == other and "d score / d pixel" in fig.cnnzoo_meta["colorbar"].ax.get_ylabel()


def test_random_weights_are_said_to_be_random(wide_digit):
    model = cnnzoo.create_model("lenet5", pretrained=True)
    model.pretrained_cfg = {**model.pretrained_cfg, "tag": None}
    assert "RANDOM WEIGHTS" in explanation_figure(model, wide_digit, "cam")._suptitle.get_text()


def test_map_on_original_follows_the_centre_crop_of_a_photo():
    cfg = {"input_size": (3, 224, 224), "resize_size": 256}
    full = map_on_original(torch.ones(224, 224), (427, 640), cfg)
    assert full.shape == (427, 640)
    seen = ~torch.isnan(full)
    # 427x640 -> 256x383, crop 224 from row 16 and column 80: in the original 26.7..376.3 x 133.7..507.9
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    assert (int(rows[0]), int(rows[-1])) == (27, 27 + round(224 * 427 / 256) - 1)
    assert abs(int(cols[0]) - 134) <= 1 and abs(int(cols[-1]) - 508) <= 1
    squash = map_on_original(torch.ones(32, 32), (50, 70), {"input_size": (1, 32, 32), "crop_mode": "squash"})
    assert not torch.isnan(squash).any()


def _high_frequency_share(m: torch.Tensor) -> float:
    """Share of the map's energy above half the Nyquist frequency (a checkerboard's is at Nyquist)."""
    power = torch.fft.fft2(m - m.mean()).abs() ** 2
    f = torch.fft.fftfreq(m.shape[-1])
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt()
    return float(power[radius > 0.25].sum() / power.sum())


def test_figure_saliency_has_no_strided_convolution_checkerboard():
    torch.manual_seed(0)
    # three stride-2 3x3 convolutions: the kernels overlap unevenly, so the raw input gradient
    # carries a period-2 checkerboard (Odena et al. 2016)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 64, 5),
    )
    x = torch.randn(3, 64, 64)
    raw = _high_frequency_share(saliency(net, x))
    smooth = _high_frequency_share(saliency(net, x, smoothgrad_samples=16, blur=1.0))  # the figure's defaults
    assert raw > 0.3, raw
    assert smooth < raw / 5, (raw, smooth)


def test_saliency_blur_is_checked():
    from cnnzoo.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="blur"):
        saliency(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), torch.zeros(1, 2, 2), blur=-1.0)


def _overlaps(boxes):
    return [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]


@pytest.mark.slow
def test_accuracy_chart_groups_recipes_and_its_labels_do_not_overlap():
    from cnnzoo.apps.chart import accuracy_figure

    tags = [
        "resnet50.tv_in1k",
        "resnet50.tv2_in1k",
        "resnet50v2",
        "resnet18",
        "resnet34",
        "mobilenet_v1",
        "mobilenet_v2.tv_in1k",
        "mobilenet_v2.tv2_in1k",
    ]
    fig = accuracy_figure(",".join(tags))
    rows = fig.cnnzoo_rows
    assert [r["tag"] for r in rows] == [
        "resnet50.tv_in1k",
        "resnet50.tv2_in1k",
        "resnet50v2.a1h_in1k",
        "resnet18.tv_in1k",
        "resnet34.tv_in1k",
        "mobilenet_v1.ra4_e3600_r224_in1k",
        "mobilenet_v2.tv_in1k",
        "mobilenet_v2.tv2_in1k",
    ]
    recipe = {r["tag"]: r["recipe"] for r in rows}
    assert recipe["resnet50.tv_in1k"] == recipe["resnet18.tv_in1k"] != recipe["resnet50.tv2_in1k"]
    assert "3,600 epochs" in recipe["mobilenet_v1.ra4_e3600_r224_in1k"]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(set(recipe.values())) == 4 and all(r in legend for r in recipe.values())
    renderer = fig.canvas.get_renderer()
    labels = fig.cnnzoo_labels
    assert [a.get_text() for a in labels] == [r["tag"] for r in rows]
    boxes = [a.get_window_extent(renderer) for a in labels]
    assert _overlaps(boxes) == []
    frame = fig.axes[0].get_window_extent(renderer)
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in boxes)


def test_accuracy_chart_names_the_tags_of_an_unknown_one():
    from cnnzoo.apps.chart import accuracy_figure
    from cnnzoo.errors import UnknownWeightsError

    # the catalogue's own lookup refuses it, as for every other command given a tag
    with pytest.raises(UnknownWeightsError, match="resnet50.tv2_in1k"):
        accuracy_figure("resnet50.nope")


@pytest.mark.slow
def test_layer_chart_honours_depth_and_says_numbers_plainly(tmp_path):
    from cnnzoo.apps.chart import _plain, layer_chart

    rows = layer_chart("googlenet", tmp_path / "g.png", (3, 224, 224), depth=1)
    names = [r.name for r in rows]
    assert names[:5] == ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"] and "inception4e" in names
    assert len(rows) == 18 and not any("." in n for n in names)  # Inception modules as one bar each
    assert [_plain(v) for v in (0, 750, 12_000, 3_500_000, 1.2e9)] == ["0", "750", "12k", "3.5M", "1.2G"]
    assert len(layer_chart("vgg16", tmp_path / "v.png", (3, 224, 224))) == 22  # every layer by default
