"""Arguments of the analysis and app functions refused where they cross into the API (their annotations,
argparse, the one output-directory check), with the argument's name and what it takes."""

from __future__ import annotations

import pytest
import torch
from helpers import cli_error
from torch import nn

import cnnzoo
from cnnzoo.apps import write_samples
from cnnzoo.errors import InvalidArgumentError, OutputDirError


@pytest.fixture(scope="module")
def net():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"smoothgrad_samples": 2.0}, "smoothgrad_samples must be a whole number >= 0, got 2.0"),
        ({"smoothgrad_samples": True}, "smoothgrad_samples must be a whole number >= 0, got True"),
        ({"smoothgrad_samples": -1}, "smoothgrad_samples must be a whole number >= 0, got -1"),
        ({"noise": float("nan")}, "noise must be a number >= 0, got nan"),
        ({"noise": "0.1"}, "noise must be a number >= 0, got '0.1'"),
        ({"blur": -0.5}, "blur must be a number >= 0, got -0.5"),
        ({"target": 1.5}, "saliency: target must be an integer, a sequence of integers, a Tensor or None, got 1.5"),
    ],
)
def test_saliency_arguments(net, kwargs, words):
    with pytest.raises(InvalidArgumentError, match="^" + words.replace("(", r"\(")):
        cnnzoo.saliency(net, torch.randn(1, 8, 8), **kwargs)


def test_saliency_takes_what_its_annotations_admit(net):
    assert cnnzoo.saliency(
        net, torch.randn(2, 1, 8, 8), target=[0, 2], smoothgrad_samples=2, noise=0, blur=1
    ).shape == (
        2,
        8,
        8,
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"bn_momentum": 1.5}, "bn_momentum must be a number in (0, 1], got 1.5"),
        ({"bn_momentum": 0}, "bn_momentum must be a number in (0, 1], got 0"),
        ({"bn_momentum": "0.1"}, "bn_momentum must be a number in (0, 1], got '0.1'"),
        ({"bn_eps": float("inf")}, "bn_eps must be a number > 0, got inf"),
        ({"bn_eps": True}, "bn_eps must be a number > 0, got True"),
    ],
)
def test_batchnorm_arguments(kwargs, words):
    with pytest.raises(InvalidArgumentError, match="^" + words.replace("(", r"\(")):
        cnnzoo.create_model("resnet20", **kwargs)


def test_batchnorm_momentum_of_one_is_taken():
    model = cnnzoo.create_model("resnet20", bn_momentum=1, bn_eps=1e-3)
    assert {(m.momentum, m.eps) for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {(1.0, 1e-3)}


def test_samples_output_that_is_a_file_or_under_one(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputDirError, match="is a file, not a directory"):
        write_samples(afile, n=1)
    line = cli_error(capsys, ["data", "samples", "--output", str(afile / "sub"), "--n", "1"])
    assert "one of its parents is a file" in line
    assert afile.read_text() == "x"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["weights", "download"], "one of the arguments TAG --all is required"),
        (["weights", "download", "--all", "lenet5.digits"], "not allowed with argument --all"),
    ],
)
def test_download_wants_tags_or_all(capsys, argv, words):
    assert words in cli_error(capsys, argv)


def test_features_of_a_layer_that_runs_only_in_training():
    with torch.device("meta"):
        model = cnnzoo.create_model("googlenet")
    with pytest.raises(InvalidArgumentError, match="'aux1' runs in both training and eval mode"):
        cnnzoo.features(model, ["aux1"])
    with pytest.raises(InvalidArgumentError, match="unknown layer name"):
        cnnzoo.features(model, ["aux9"])
    assert isinstance(cnnzoo.features(model, ["inception4a"]), nn.Module)  # a layer of both modes is taken


def test_a_peer_model_under_cnnzoos_name_is_not_replaced(monkeypatch):
    from torchvision.models import _api

    from cnnzoo import ecosystem
    from cnnzoo.errors import DuplicateModelError

    monkeypatch.setitem(_api.BUILTIN_MODELS, "cnnzoo_resnet20", lambda **kw: None)
    with pytest.raises(DuplicateModelError, match="torchvision already has a model 'cnnzoo_resnet20'"):
        ecosystem.torchvision_register(["resnet20"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"feature_cfg": 5}, "feature_cfg must be a dict, got int"),
        ({"feature_cfg": "abc"}, "feature_cfg must be a dict, got str"),
        ({"feature_cfg": {"colour": 1}}, "feature_cfg got unknown key(s) ['colour']"),
        ({"pretrained_cfg": 5}, "pretrained_cfg must be a weight tag or a dict, got int"),
        ({"pretrained_cfg": {"meen": 0.5}}, "pretrained_cfg got unknown key(s) ['meen']"),
        ({"pretrained_cfg_overlay": [("mean", (0, 0, 0))]}, "pretrained_cfg_overlay must be a dict, got list"),
        ({"pretrained_cfg_overlay": {"meen": 0.5}}, "pretrained_cfg_overlay got unknown key(s) ['meen']"),
    ],
)
def test_timm_factory_dicts(kwargs, words):
    with pytest.raises(InvalidArgumentError) as caught:
        cnnzoo.create_model("resnet20", features_only="feature_cfg" in kwargs, **kwargs)
    assert str(caught.value).startswith(words)


@pytest.fixture(scope="module")
def lenet():
    return cnnzoo.create_model("lenet5", pretrained=True)


def test_paths_and_choices_of_the_apps(lenet, tmp_path):
    from cnnzoo.apps import cam_overlay, predict
    from cnnzoo.apps.export import format_for
    from cnnzoo.apps.predict import explanation_figure

    (image,) = write_samples(tmp_path / "s", n=1)
    cases = [
        (lambda: cnnzoo.export(lenet, 5), "output must be a file path (a string or a pathlib.Path), got 5"),
        (lambda: cnnzoo.export(lenet, tmp_path / "m.pt2", "hub"), "export: format must be one of 'export', 'onnx'"),
        (lambda: format_for("m.pt2", "tflite"), "format_for: format must be one of 'export', 'onnx'"),
        (lambda: predict(lenet, [image, 3]), "images[1] must be a file path"),
        (lambda: predict(lenet, [image], topk=0), "topk must be"),
        (lambda: explanation_figure(lenet, image, "gradcam"), "explanation_figure: method must be 'cam' or 'saliency'"),
        (lambda: cam_overlay(lenet, image, None), "output must be a file path"),
        (lambda: write_samples(None), "output must be a file path"),
        (lambda: write_samples(tmp_path / "t", n=0), "n must be"),
    ]
    for call, words in cases:
        with pytest.raises(InvalidArgumentError) as caught:
            call()
        assert str(caught.value).startswith(words), (words, str(caught.value))
    assert list(tmp_path.iterdir()) == [tmp_path / "s"]
    assert format_for(tmp_path / "m.onnx") == "onnx" and predict(lenet, [image], topk=2)[0]["top"][1]["index"] >= 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"precision": "auto"}, "benchmark: precision must be 'fp32', 'bf16' or 'fp16', got 'auto'"),
        ({"model_args": 5}, "model_args must be a dict with string keys, got 5"),
        ({"warmup": -1}, "warmup must be a whole number"),
        ({"repeats": 0}, "repeats must be a whole number"),
        ({"threads": 2.0}, "threads must be a whole number"),
    ],
)
def test_benchmark_arguments(kwargs, words):
    from cnnzoo.apps import benchmark

    with pytest.raises(InvalidArgumentError) as caught:
        benchmark("lenet5", timing=False, **kwargs)
    assert str(caught.value).startswith(words)


def test_comparison_rows_are_dicts():
    from cnnzoo.apps.compare import format_comparison

    with pytest.raises(InvalidArgumentError, match=r"rows\[0\] must be a dict with string keys"):
        format_comparison([("lenet5", 1)])
