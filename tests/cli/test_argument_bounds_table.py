"""Arguments: one table of bounds (cnnzoo.limits) shared by train, export, benchmark, info and the API;
--model-arg values typed by the constructor's defaults, bounded in length and depth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo import cli
from cnnzoo.apps.benchmark import benchmark
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.limits import LIMITS, MODEL_ARG_CHARS, MODEL_ARG_DEPTH, parse_model_arg
from cnnzoo.training.config import LIMITS as TRAIN_LIMITS

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_train_export_and_benchmark_share_one_table(capsys, tmp_path):
    assert TRAIN_LIMITS is LIMITS
    too_big = str(LIMITS["input_size"] + 1)
    line = _error(
        capsys,
        [
            "export",
            "--model",
            "lenet5",
            "--output",
            str(tmp_path / "m.pt"),
            "--format",
            "torchscript",
            "--input-size",
            "1",
            too_big,
            "32",
        ],
    )
    assert f"input_size must be a whole number from 1 to {LIMITS['input_size']:,}" in line
    assert list(tmp_path.iterdir()) == []
    line = _error(capsys, ["benchmark", "--models", "lenet5", "--no-timing", "--threads", "100000"])
    assert "threads must be a whole number from 1 to 1,024" in line
    line = _error(capsys, ["info", "lenet5", "--input-size", "100000", "32", "32"])
    assert "in_chans must be a whole number from 1 to 4,096" in line
    with pytest.raises(InvalidArgumentError, match="threads"):
        benchmark(["lenet5"], threads=True, timing=False)


def test_model_args_are_typed_by_the_constructors_defaults(capsys):
    model_args = cli._model_args
    assert model_args(["zero_init_residual=false"], ["resnet18"]) == {"zero_init_residual": False}
    assert model_args(["zero_init_residual=True"], ["resnet18.tv_in1k"]) == {"zero_init_residual": True}
    assert model_args(["drop_rate=0.25", "variant=paper"], ["lenet5"]) == {"drop_rate": 0.25, "variant": "paper"}
    assert model_args(["channels=[8, 16, 32, 64]"], ["resnet18"]) == {"channels": [8, 16, 32, 64]}
    line = _error(capsys, ["info", "resnet18", "--model-arg", 'zero_init_residual="false"'])
    assert "zero_init_residual must be True, False or None, got 'false'" in line  # a quoted string is not a bool
    with pytest.raises(InvalidArgumentError, match="beyond 2\\*\\*53"):
        model_args(["stem_width=" + "9" * 30], ["resnet18"])
    line = _error(capsys, ["info", "resnet18", "--model-arg", "zero_init_residual=maybe"])
    assert "resnet18: zero_init_residual must be True, False or None, got 'maybe'" in line


def test_model_arg_values_are_bounded_in_size_and_depth():
    with pytest.raises(InvalidArgumentError, match=f"at most {MODEL_ARG_CHARS:,}"):
        parse_model_arg("x", "[" * (MODEL_ARG_CHARS + 1))
    with pytest.raises(InvalidArgumentError, match=f"deeper than {MODEL_ARG_DEPTH}"):
        parse_model_arg("x", "[" * (MODEL_ARG_DEPTH + 1) + "]" * (MODEL_ARG_DEPTH + 1))
    with pytest.raises(InvalidArgumentError, match="beyond 2\\*\\*53"):
        parse_model_arg("x", "[1, 99999999999999999999999]")
    assert parse_model_arg("x", "[[1, 2], [3]]") == [[1, 2], [3]]


@pytest.mark.slow  # starts cnnzoo as a process
def test_a_deep_model_arg_is_one_line_from_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "info", "resnet18", "--model-arg", "channels=" + "[" * 500 + "]" * 500],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(f"--model-arg channels nests deeper than {MODEL_ARG_DEPTH} levels")
