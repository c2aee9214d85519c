"""What users get wrong about models and names, each answered by one clear line.

Through the CLI: exit status 2 and exactly one line on stderr (``cnnzoo <command>: error: ...``)
saying what is wrong, no traceback. Through the API: the specific exception class of
:mod:`cnnzoo.errors`, in one line whatever the input. Random constructor arguments:
test_constructor_fuzz.py.
"""

from __future__ import annotations

import pytest
import torch
from helpers import cli_error

import cnnzoo
from cnnzoo.errors import InputSizeError, InvalidArgumentError, UnknownModelError


def test_unknown_model_suggests_names(capsys):
    line = cli_error(capsys, ["info", "resnt50"])
    assert "unknown model 'resnt50'" in line and "did you mean resnet50" in line
    with pytest.raises(UnknownModelError) as e:
        cnnzoo.create_model("vgg61")
    assert e.value.suggestions and all(s.startswith("vgg") for s in e.value.suggestions[:2])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_chans": 0}, "in_chans"),
        ({"in_chans": -3}, "in_chans"),
        ({"num_classes": -1}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"in_chans": "3"}, "in_chans"),
        ({"dropout_rate": 0.5}, "dropout_rate"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        cnnzoo.create_model("lenet5", **kwargs)


def test_num_classes_zero_is_the_feature_extractor_not_an_error():
    # the documented interface: num_classes=0 -> nn.Identity head, forward gives features
    model = cnnzoo.create_model("resnet18", num_classes=0).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, model.head_hidden_size)


@pytest.mark.parametrize("name, size, minimum", [("lenet5", 16, "32x32"), ("alexnet", 32, "63x63")])
def test_input_too_small_names_the_minimum(capsys, name, size, minimum):
    model = cnnzoo.create_model(name, num_classes=10).eval()
    with pytest.raises(InputSizeError, match=f"{name}.*{minimum}.*{size}x{size}"):
        model(torch.zeros(1, model.in_chans, size, size))
    line = cli_error(capsys, ["info", name, "--input-size", str(model.in_chans), str(size), str(size)])
    assert minimum in line and f"{size}x{size}" in line


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: cnnzoo.create_model("lenet5", num_classes=10**12), InvalidArgumentError, "num_classes must be"),
        (lambda: cnnzoo.create_model("resnet18", in_chans=10**6), InvalidArgumentError, "in_chans must be"),
        (lambda: cnnzoo.create_model("mobilenet_v1", width_mult=float("inf")), InvalidArgumentError, "width_mult"),
        (lambda: cnnzoo.create_model("vgg11", drop_rate="0.5"), InvalidArgumentError, "drop_rate"),
        (lambda: cnnzoo.create_model("lenet5")([1, 2, 3]), InputSizeError, "torch.Tensor.*got a list"),
        (lambda: cnnzoo.create_model("../x"), UnknownModelError, "unknown model '../x'"),
        (lambda: cnnzoo.create_model("res\nnet"), UnknownModelError, r"unknown model 'res\\nnet'"),
        (lambda: cnnzoo.register_model(name=123)(lambda **kw: None), InvalidArgumentError, "123"),
    ],
)
def test_api_arguments_that_are_not_cnnzoos_errors_today(build, error, message):
    with pytest.raises(error, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)  # one line, whatever the input
