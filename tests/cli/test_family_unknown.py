"""An unknown --family is named as such, with the registered families; a known one lists its models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo import list_models
from cnnzoo.errors import InvalidArgumentError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cnnzoo(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "cnnzoo", *argv], capture_output=True, text=True, env=env, timeout=60)


def test_cli_names_an_unknown_family_and_the_known_ones():
    run = _cnnzoo("list", "--family", "nonsense")
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "unknown family 'nonsense'" in lines[0] and "no model matches" not in lines[0]
    assert "resnet" in lines[0] and "vgg" in lines[0]


@pytest.mark.parametrize("family", ["resnett", "", "RESNET", 5])
def test_api_refuses_an_unknown_family(family):
    with pytest.raises(InvalidArgumentError, match="unknown family") as caught:
        list_models(family=family)
    assert "(the families: alexnet," in str(caught.value)


def test_a_known_family_lists_its_models_only():
    vgg = list_models(family="vgg")
    assert vgg and all(n.startswith("vgg") for n in vgg)
    assert list_models("vgg11*", family="resnet") == []  # a known family with no match is still an empty list
