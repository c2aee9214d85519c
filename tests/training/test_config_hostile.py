"""Training options and YAML recipes that users get wrong, refused before a run starts.

Through the CLI: exit status 2, exactly one line on stderr saying what is wrong, no traceback,
and no output directory made. Through the API: :class:`~cnnzoo.errors.ConfigError` or
:class:`~cnnzoo.errors.DeviceError`. Random mappings and YAML text: test_config_fuzz.py.
"""

from __future__ import annotations

import os

import pytest
import torch
from helpers import QUICK, cli_error

import cnnzoo
from cnnzoo.errors import ConfigError, DeviceError
from cnnzoo.training.config import load_config, merge_config


@pytest.mark.parametrize(
    "text, message",
    [
        ("epochz: 3\n", "unknown config key 'epochz'; did you mean epochs"),
        ("epochs: three\n", "epochs must be int, got 'three'"),
        ("epochs: [1\n", "YAML syntax error"),
        ("- epochs\n- 3\n", "must be a mapping"),
        ("lr: -0.1\n", "lr must be > 0"),
    ],
)
def test_bad_yaml_config(capsys, tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    line = cli_error(capsys, ["train", "--config", str(path), *QUICK])
    assert message in line and "Traceback" not in line
    with pytest.raises(ConfigError, match=message.split("'")[0]):
        merge_config(None, load_config(path))


# a 400-byte YAML of nested aliases: 9**6 ones once expanded (gigabytes once printed)
ALIAS_BOMB = (
    "milestones: [&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b],"
    " &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e]]\n"
)


def test_yaml_alias_bombs_give_short_messages(capsys, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    line = cli_error(capsys, ["train", "--config", str(bomb)])
    assert "milestones must be a list of int" in line and len(line) < 500
    many = tmp_path / "many.yaml"  # more aliases than any recipe needs: refused while parsing
    many.write_text(
        "model_kwargs: {x: ["
        + ",".join(f"&a{i} [1]" for i in range(80))
        + "], y: ["
        + ",".join(f"*a{i}" for i in range(80))
        + "]}\n"
    )
    line = cli_error(capsys, ["train", "--config", str(many)])
    assert "more than 64 YAML aliases" in line and "many.yaml:" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
def test_config_that_is_a_named_pipe_does_not_hang(capsys, tmp_path):
    fifo = tmp_path / "recipe.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    assert "not a regular file" in cli_error(capsys, ["train", "--config", str(fifo)])


def test_missing_config_file(capsys, tmp_path):
    assert "does not exist" in cli_error(capsys, ["train", "--config", str(tmp_path / "none.yaml")])


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--threads", "100000", "threads must be at most 1,024"),
        ("--workers", "100000", "workers must be at most 256"),
        ("--seed", "99999999999999999999", "seed must be at most"),
        ("--input-size", "100000", "input_size must be at most 8,192"),
        ("--in-chans", "100000", "in_chans must be at most 4,096"),
        ("--batch-size", "100000000", "batch_size must be at most 65,536"),
        ("--lr", "inf", "lr must be a finite number"),
        ("--momentum", "nan", "momentum must be a finite number"),
        ("--model-arg", "num_classes=3", "may not set num_classes"),
        ("--model-arg", "pretrained=true", "may not set num_classes, in_chans, pretrained, arch_name"),
        ("--model-arg", "variant=[", "the value is not YAML"),
        ("--model-arg", "=3", "KEY an argument name"),
    ],
)
def test_numbers_and_model_args_that_would_crash_later(capsys, tmp_path, option, value, message):
    line = cli_error(capsys, ["train", "--output", str(tmp_path / "run"), *QUICK, option, value])
    assert message in line
    assert not (tmp_path / "run").exists()  # refused before anything was made


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "-1", "epochs must be >= 1"),
        ("--epochs", "0", "epochs must be >= 1"),
        ("--batch-size", "-8", "batch_size must be >= 1"),
        ("--batch-size", "0", "batch_size must be >= 1"),
        ("--lr", "-0.1", "lr must be > 0"),
        ("--lr", "0", "lr must be > 0"),
        ("--in-chans", "0", "in_chans must be >= 1"),
        ("--epochs", "ten", "invalid int value"),
    ],
)
def test_bad_numbers_on_the_command_line(capsys, tmp_path, option, value, message):
    line = cli_error(capsys, ["train", option, value, "--output", str(tmp_path / "run"), "--quiet"])
    assert message in line
    assert not (tmp_path / "run").exists()


def test_bad_numbers_through_the_api():
    for key, value in (("epochs", -1), ("batch_size", 0), ("lr", -1e-3)):
        with pytest.raises(ConfigError, match=key):
            cnnzoo.train(**{key: value}, verbose=False)


def test_model_arg_without_a_value(capsys):
    assert "KEY=VALUE" in cli_error(capsys, ["train", "--model-arg", "dropout", "--quiet"])


def test_device_cuda_without_cuda(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # whatever this host has
    line = cli_error(capsys, ["train", "--device", "cuda", "--output", str(tmp_path / "run"), "--quiet"])
    assert "needs CUDA" in line and "--device cpu" in line
    with pytest.raises(DeviceError):
        cnnzoo.train(device="cuda:0", verbose=False)
    assert not (tmp_path / "run").exists()


def test_fp16_on_the_cpu(capsys, tmp_path):
    line = cli_error(capsys, ["train", "--precision", "fp16", "--device", "cpu", "--output", str(tmp_path / "r")])
    assert "fp16 needs CUDA" in line and "bf16 or fp32" in line
    with pytest.raises(DeviceError):
        cnnzoo.train(precision="fp16", device="cpu", verbose=False)
