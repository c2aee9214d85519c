"""``checked``: the one check of a public API function's arguments, read from its annotations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest
import torch

from cnnzoo.errors import InvalidArgumentError, shown
from cnnzoo.models.arguments import NonNegative, Positive, Whole, checked


@checked
def _draw(
    samples: Whole,
    mode: Literal["cam", "saliency"] = "cam",
    noise: NonNegative = 0.0,
    scale: Positive = 1.0,
    indices: list[int] | None = None,
) -> tuple:
    return samples, mode, noise, scale, indices


class _Tool:
    @checked
    def run(self, k: int, *, name: str = "x") -> tuple[int, str]:
        return k, name


def test_admitted_arguments_reach_the_body_unchanged() -> None:
    assert _draw(0, "saliency", 0.5, 2, [1, 2]) == (0, "saliency", 0.5, 2, [1, 2])
    assert _Tool().run(3, name="y") == (3, "y")


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: _draw(2.0), "samples must be a whole number >= 0, got 2.0"),
        (lambda: _draw(True), "samples must be a whole number"),
        (lambda: _draw(-1), "samples must be a whole number >= 0, got -1"),
        (lambda: _draw(1, "grad"), "_draw: mode must be 'cam' or 'saliency', got 'grad'"),
        (lambda: _draw(1, noise=float("nan")), "noise must be a number >= 0, got nan"),
        (lambda: _draw(1, noise="0.1"), "noise must be a number >= 0"),
        (lambda: _draw(1, scale=0), "scale must be a number > 0, got 0"),
        (lambda: _draw(1, indices=(i for i in range(2))), "_draw: indices must be a sequence of integers or None"),
        (lambda: _Tool().run("3"), "run: k must be an integer, got '3'"),
        (lambda: _Tool().run(3, name=4), "run: name must be a string, got 4"),
    ],
)
def test_an_argument_its_annotation_does_not_admit_is_refused_before_the_body(call, words) -> None:
    with pytest.raises(InvalidArgumentError, match="^" + words.replace("(", r"\(").replace(")", r"\)")):
        call()


class _Normalise:
    @checked
    def __init__(self, mean: Sequence[float], path: os.PathLike[str] | str | None = None) -> None:
        self.mean = list(mean)

    @checked
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images


def test_methods_are_named_by_their_class_and_constructors_bind_after_self() -> None:
    assert _Normalise([0.5], Path("x")).mean == [0.5]  # a subscripted generic (os.PathLike[str]) is no crash
    with pytest.raises(InvalidArgumentError, match=r"^_Normalise: mean must be a sequence of numbers, got 0.5$"):
        _Normalise(0.5)
    with pytest.raises(InvalidArgumentError, match=r"^_Normalise: path must be"):
        _Normalise([0.5], 3)
    with pytest.raises(InvalidArgumentError, match=r"^_Normalise: images must be a Tensor, got \[\[0, 1\]\]$"):
        _Normalise([0.5])([[0, 1]])


def test_a_tensor_is_quoted_on_one_line_as_what_it_is() -> None:
    assert shown(torch.zeros(3, 3, dtype=torch.uint8)) == "a uint8 tensor of shape (3, 3)"
    assert "\n" not in shown([torch.zeros(40, 40)] * 2)


def test_a_torch_class_argument_is_described_as_a_class_of_torch() -> None:
    @checked
    def build(act_layer: Literal["relu6", "relu"] | type[torch.nn.Module] = "relu6") -> None:
        return None

    build(torch.nn.GELU)
    with pytest.raises(
        InvalidArgumentError, match=r"act_layer must be 'relu6', 'relu' or an nn.Module class, got 'ReLU'$"
    ):
        build("ReLU")
