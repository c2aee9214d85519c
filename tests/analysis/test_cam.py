"""Grad-CAM (Selvaraju et al. 2017): the formula, class-discriminative localisation, the CLI."""

import pytest
import torch
from helpers import run_cli
from torch import nn

import cnnzoo
from cnnzoo.analysis import grad_cam
from cnnzoo.analysis.cam import default_cam_layer
from cnnzoo.errors import InvalidArgumentError

PLUS = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])
CROSS = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])


def detector_net():
    """Two matched filters (a plus sign, a diagonal cross), thresholded, globally pooled: the score of
    class 0 is the evidence of pluses, that of class 1 the evidence of crosses."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)
    )
    with torch.no_grad():
        for k, pattern in enumerate((PLUS, CROSS)):
            net[0].weight[k, 0] = pattern - pattern.mean()
        net[0].bias.fill_(-2.0)
        net[4].weight.copy_(torch.eye(2))
        net[4].bias.zero_()
    return net


def planted(n, generator):
    """Noise with a plus in the left half and a cross in the right half, at random places."""
    x = 0.2 * torch.randn(n, 1, 24, 24, generator=generator)
    plus = torch.stack(
        [torch.randint(0, 22, (n,), generator=generator), torch.randint(0, 9, (n,), generator=generator)], 1
    )
    cross = torch.stack(
        [torch.randint(0, 22, (n,), generator=generator), torch.randint(12, 22, (n,), generator=generator)], 1
    )
    for i in range(n):
        (a, b), (c, d) = plus[i].tolist(), cross[i].tolist()
        x[i, 0, a : a + 3, b : b + 3] += 1.5 * PLUS
        x[i, 0, c : c + 3, d : d + 3] += 1.5 * CROSS
    return x, plus + 1, cross + 1  # the patterns' centres


def test_grad_cam_points_at_the_evidence_of_each_class():
    x, plus, cross = planted(24, torch.Generator().manual_seed(0))
    net = detector_net()
    for target, centre in ((0, plus), (1, cross)):
        cam = grad_cam(net, x, target=target, layer="1")
        assert cam.shape == (24, 24, 24) and float(cam.min()) >= 0 and torch.allclose(cam.amax((1, 2)), torch.ones(24))
        peak = cam.flatten(1).argmax(1)
        found = torch.stack([peak // 24, peak % 24], 1)
        near = ((found - centre).abs() <= 1).all(1)
        assert near.float().mean() >= 0.9, f"class {target}: the map peaks at the pattern in {near.float().mean():.2f}"


def test_grad_cam_is_cam_for_a_global_average_pooling_network():
    # with global average pooling and a linear classifier, Grad-CAM's weights are the classifier's
    # weights / (H W), so the map is Zhou et al. 2016's CAM (Selvaraju et al. 2017, Sec. 3.1)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)
    )
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        acts = net[1](net[0](x))
        cam = torch.relu(torch.einsum("k,nkhw->nhw", net[4].weight[2], acts))
    expected = cam / cam.amax((1, 2), keepdim=True)
    torch.testing.assert_close(grad_cam(net, x, target=2, layer="1"), expected)


def test_grad_cam_leaves_the_model_as_it_was():
    model = cnnzoo.create_model("lenet5", num_classes=4).train()
    for p in model.parameters():
        p.requires_grad_(False)  # a frozen model still gets its map
    cam = grad_cam(model, torch.randn(1, 32, 32))
    assert cam.shape == (32, 32) and model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(InvalidArgumentError, match="layer9"):
        grad_cam(model, torch.randn(1, 32, 32), layer="layer9")
    with pytest.raises(InvalidArgumentError, match="feature map"):
        grad_cam(model, torch.randn(1, 32, 32), layer="f6")
    with pytest.raises(InvalidArgumentError, match="target"):
        grad_cam(model, torch.randn(1, 32, 32), target=4)


def test_default_layer_is_the_last_stage_larger_than_1x1():
    with torch.device("meta"):
        resnet, vgg, lenet = (cnnzoo.create_model(n) for n in ("resnet18", "vgg11", "lenet5"))
    assert default_cam_layer(resnet, (3, 224, 224)) == "layer4"
    assert default_cam_layer(vgg, (3, 224, 224)) == "features.20"
    assert default_cam_layer(lenet, (1, 32, 32)) == "features.s4"  # C5's map is 1x1


def test_predict_writes_a_cam_overlay(capsys, tmp_path):
    from cnnzoo.data import read_image

    code, out, _ = run_cli(capsys, "data", "samples", "--output", str(tmp_path / "s"), "--n", "2")
    assert code == 0
    digit = out.split()[0]
    code, out, _ = run_cli(
        capsys, "predict", "--model", "lenet5", digit, "--cam", str(tmp_path / "cam.png"), "--cam-layer", "features.c3"
    )
    assert code == 0 and f"cam: {tmp_path / 'cam.png'}" in out
    img = read_image(tmp_path / "cam.png")
    assert img.shape[0] == 3 and img.shape[1] >= 224
    code, _, err = run_cli(
        capsys, "predict", "--model", "lenet5", digit, "--cam", str(tmp_path / "c.png"), "--cam-layer", "nope"
    )
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1
