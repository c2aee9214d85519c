"""``cnnzoo compare``: several models side by side, measured on the meta device, never timed."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import cli_error, run_cli

from cnnzoo.analysis import count_flops
from cnnzoo.apps.compare import compare, format_comparison
from cnnzoo.errors import InvalidArgumentError, UnknownModelError, UnknownWeightsError
from cnnzoo.weights.catalogue import CATALOGUE

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.slow
def test_googlenet_counts_auxiliary_heads_apart():
    (row,) = compare(["googlenet"], input_size=(3, 96, 96))  # smaller than 224 only to be quick
    with torch.device("meta"):
        import cnnzoo

        net = cnnzoo.create_model("googlenet")
    total = sum(p.numel() for p in net.parameters())
    aux = sum(p.numel() for m in (net.aux1, net.aux2) for p in m.parameters())
    assert row["params_train"] == total
    assert row["params"] == total - aux  # the auxiliary classifiers run only in training
    assert row["depth"] == 22  # "22 layers deep when counting only layers with parameters" (Szegedy et al. 2014)
    assert row["gflops"] == pytest.approx(count_flops(net, (3, 96, 96)).gflops)
    assert row["top1"] == CATALOGUE["googlenet.tv_in1k"].top1 and row["tag"] == "googlenet.tv_in1k"


@pytest.mark.slow
def test_named_tag_chooses_the_accuracy():
    old, new = compare(["resnet50.tv_in1k", "resnet50.tv2_in1k"])
    assert (old["tag"], new["tag"]) == ("resnet50.tv_in1k", "resnet50.tv2_in1k")
    assert old["top1"] == CATALOGUE["resnet50.tv_in1k"].top1 != new["top1"] == CATALOGUE["resnet50.tv2_in1k"].top1
    assert old["params"] == new["params"] == 25_557_032  # torchvision's published count


def test_receptive_fields_of_the_last_map_match_the_literature():
    # Araujo et al., Distill 2019, Table 1: AlexNet 195, VGG-16 212 at the last convolutional map
    rows = {r["model"]: r for r in compare(["alexnet", "vgg16"])}
    assert rows["alexnet"]["rf"] == 195
    assert rows["vgg16"]["rf"] == 212
    # activations of one image: every leaf's output, 4 bytes a value; VGG-16's is the famous ~58 MB
    assert 50 < rows["vgg16"]["activation_mb"] < 65


def test_input_size_and_no_weights():
    (row,) = compare(["resnet18"], input_size=(3, 64, 64))
    assert row["input_size"] == [3, 64, 64]
    (small,) = compare(["resnet20"])  # no catalogued weights: no top-1, no tag
    assert small["top1"] is None and small["tag"] is None


def test_formats_are_parseable():
    rows = compare(["lenet5", "alexnet"])
    parsed = list(csv.DictReader(io.StringIO(format_comparison(rows, "csv"))))
    assert [r["model"] for r in parsed] == ["lenet5", "alexnet"]
    assert int(parsed[1]["params"]) == rows[1]["params"]
    md = format_comparison(rows, "markdown").splitlines()
    assert md[0].startswith("| model |") and set(md[1]) <= {"|", "-", ":"}
    assert len({line.count("|") for line in md}) == 1  # every row has every column
    table = format_comparison(rows, "table").splitlines()
    assert len(table) == 3 and "alexnet" in table[2]
    with pytest.raises(InvalidArgumentError, match="format must be 'table', 'csv' or 'markdown', got 'xml'"):
        format_comparison(rows, "xml")


def test_bad_names():
    with pytest.raises(UnknownModelError):
        compare(["resnet5O"])
    with pytest.raises(UnknownWeightsError, match="resnet50 has: "):
        compare(["resnet50.nope"])
    with pytest.raises(InvalidArgumentError, match="no model matches"):
        compare(["nothing*"])


def test_cli_errors_are_one_line(capsys):
    assert "unknown weight tag" in cli_error(capsys, ["compare", "resnet50.nope"])
    status, out, _ = run_cli(capsys, "compare", "lenet5", "--format", "markdown")
    assert status == 0 and out.startswith("| model |")


@pytest.mark.slow
def test_real_process_prints_csv():
    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "compare", "vgg16", "googlenet", "--format", "csv"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [r["model"] for r in rows] == ["vgg16", "googlenet"]
    assert int(rows[1]["params_train"]) > int(rows[1]["params"])


def test_info_with_several_names_prints_the_comparison(capsys):
    status, out, _ = run_cli(capsys, "info", "alexnet", "googlenet", "--input-size", "3", "64", "64")
    head, alexnet, googlenet = out.splitlines()
    rows = compare(["alexnet", "googlenet"], input_size=(3, 64, 64))
    assert status == 0 and head.startswith("model ") and "params (M, with aux heads)" in head
    millions = [f"{rows[0][k] / 1e6:#.4g}" for k in ("params", "params_train")]
    assert alexnet.split()[:3] == ["alexnet", *millions]
    assert googlenet.split()[2] == f"{rows[1]['params_train'] / 1e6:#.4g}" != googlenet.split()[1]
    line = cli_error(capsys, ["info", "lenet5", "alexnet", "--plot", "x.png"])
    assert "give one model" in line
