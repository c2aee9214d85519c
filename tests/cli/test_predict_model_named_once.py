"""predict and export need a model name from somewhere: the user, or a run's checkpoint. Every way of
giving weights without one is refused in one line that says what to give."""

from __future__ import annotations

import pytest
import torch
from helpers import cli_error

from cnnzoo.apps.predict import load_model
from cnnzoo.errors import InvalidArgumentError


@pytest.mark.parametrize("pretrained", [True, None, "tv_in1k", "resnet18.tv_in1k"])
def test_weights_that_name_no_model(pretrained):
    with pytest.raises(InvalidArgumentError, match=r"give the model \(--model NAME\) or a run's checkpoint"):
        load_model(None, pretrained)


def test_a_weights_file_that_is_not_a_runs_checkpoint(tmp_path):
    plain = tmp_path / "weights.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, plain)
    with pytest.raises(InvalidArgumentError, match=rf"{plain} is not a cnnzoo run's checkpoint: give the model"):
        load_model(None, str(plain))


def test_no_weights_at_all_is_refused():
    with pytest.raises(InvalidArgumentError, match="predict needs weights"):
        load_model("lenet5", False)


def test_on_the_command_line(capsys, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    line = cli_error(capsys, ["predict", str(image), "--pretrained", "tv_in1k"])
    assert "give the model (--model NAME)" in line
