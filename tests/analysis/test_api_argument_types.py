"""API arguments of the wrong type meet one check where the public functions take them: stage indices
(forward_intermediates, out_indices), images (saliency, grad_cam: preprocessed floats, not read_image's
uint8), and a features_only backbone given to what needs class scores (saliency, grad_cam, export)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnnzoo
from cnnzoo.errors import InvalidArgumentError

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def lenet():
    return cnnzoo.create_model("lenet5").eval()


@pytest.mark.parametrize("indices", [2.0, "2", (i for i in (0, 1)), {0, 1}, [0, 1.0], torch.tensor([0, 1]), True])
def test_stage_indices_of_the_wrong_type(lenet, indices):
    with pytest.raises(InvalidArgumentError, match="indices must be an int or a list or tuple of ints") as caught:
        lenet.forward_intermediates(torch.randn(1, 1, 32, 32), indices=indices)
    assert "\n" not in str(caught.value)


def test_out_indices_of_the_wrong_type():
    with pytest.raises(InvalidArgumentError, match="indices must be an int or a list or tuple of ints"):
        cnnzoo.create_model("lenet5", features_only=True, out_indices=(i for i in (0, 1)))
    with pytest.raises(InvalidArgumentError, match="got 2.0"):
        cnnzoo.create_model("lenet5", features_only=True, out_indices=2.0)
    assert len(cnnzoo.create_model("lenet5", features_only=True, out_indices=range(2))(torch.randn(1, 1, 32, 32))) == 2


@pytest.mark.parametrize("tool", [cnnzoo.saliency, cnnzoo.grad_cam])
def test_a_uint8_image_from_read_image_is_refused(lenet, tool):
    image = torch.randint(0, 256, (1, 32, 32), dtype=torch.uint8)
    with pytest.raises(InvalidArgumentError, match="image must be preprocessed floats .* got a torch.uint8 tensor"):
        tool(lenet, image)
    with pytest.raises(InvalidArgumentError, match=r"image must be a Tensor, got \[\["):  # the annotation's check
        tool(lenet, image.float().tolist())
    with pytest.raises(InvalidArgumentError, match=r"image must be a \(C, H, W\) or \(N, C, H, W\) tensor"):
        tool(lenet, image.float()[0])
    assert tool(lenet, image.float() / 255).shape == (32, 32)  # floats are taken as they are


def test_what_needs_class_scores_refuses_a_backbone(tmp_path):
    backbone = cnnzoo.create_model("lenet5", features_only=True).eval()
    image = torch.randn(1, 32, 32)
    for tool in (cnnzoo.saliency, cnnzoo.grad_cam):
        with pytest.raises(InvalidArgumentError, match="features_only backbone"):
            tool(backbone, image)
    with pytest.raises(InvalidArgumentError, match="features_only backbone"):
        cnnzoo.export(backbone, tmp_path / "backbone.pt2")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a fresh interpreter that imports torch and builds the model (5-13 s)
def test_export_features_only_in_the_cli_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    out = tmp_path / "m.pt2"
    argv = ["export", "--model", "lenet5", "--model-arg", "features_only=true", "--output", str(out)]
    run = subprocess.run([sys.executable, "-m", "cnnzoo", *argv], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "features_only" in lines[0] and not out.exists()
