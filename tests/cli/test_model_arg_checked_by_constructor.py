"""--model-arg text is read (a bool's words, a number, YAML) and bounded in size; whether the value fits the
argument is the constructor's one check of its annotations, as for a network built in Python."""

from __future__ import annotations

import pytest

from cnnzoo import cli
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.limits import parse_model_arg


def _error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "arg, message",
    [
        ("zero_init_residual=maybe", "resnet18: zero_init_residual must be True, False or None, got 'maybe'"),
        ("zero_init_residual=2", "resnet18: zero_init_residual must be True, False or None, got 2"),
        ("stem_width=abc", "stem_width must be a whole number >= 1, got 'abc'"),
        ("stem_width=2.5", "stem_width must be a whole number >= 1, got 2.5"),
        ("drop_rate=high", "drop_rate must be a number, got 'high'"),
        ("drop_rate=1e400", "--model-arg drop_rate holds a number beyond 2**53 or not finite: '1e400'"),
        ("drop_rate=nan", "--model-arg drop_rate holds a number beyond 2**53 or not finite: 'nan'"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_by_the_constructor_in_one_line(capsys, arg, message):
    assert message in _error(capsys, ["info", "resnet18", "--model-arg", arg])


def test_train_refuses_a_model_arg_before_it_writes_a_run(capsys, tmp_path):
    argv = ["train", "--model", "resnet18", "--data", "synthetic:8", "--epochs", "1", "--quiet"]
    line = _error(capsys, [*argv, "--model-arg", "zero_init_residual=maybe", "--output", str(tmp_path / "run")])
    assert "zero_init_residual must be True, False or None, got 'maybe'" in line
    assert not (tmp_path / "run").exists()


def test_the_text_is_read_by_the_default_and_bounded():
    assert parse_model_arg("z", " Yes ", False) is True and parse_model_arg("z", "0", False) is False
    assert parse_model_arg("n", "12", 3) == 12 and parse_model_arg("r", "1e-3", 0.5) == 0.001
    assert parse_model_arg("v", "123", "paper") == "123"  # a string argument takes the text as given
    assert parse_model_arg("n", "2.5", 3) == 2.5  # not an int: read as YAML, refused by the constructor
    with pytest.raises(InvalidArgumentError, match=r"beyond 2\*\*53 or not finite: '\[1, \.inf\]'"):
        parse_model_arg("c", "[1, .inf]")
    with pytest.raises(InvalidArgumentError, match="nests deeper than 4 levels"):
        parse_model_arg("c", "[" * 300 + "]" * 300, [8, 16])
