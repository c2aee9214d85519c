"""The CPU benchmark scripts of the precision and end-to-end questions run and write what they promise
(subprocesses, the smallest settings: this checks the scripts, not the numbers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{script}.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(out)],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_race_times_each_contender_in_each_round(tmp_path):
    payload = _run(
        "race",
        tmp_path,
        "--model",
        "resnet18",
        "--image-size",
        "32",
        "--classes",
        "2",
        "--train-per-class",
        "4",
        "--val-per-class",
        "2",
        "--batch-size",
        "4",
        "--rounds",
        "2",
        "--cnnzoo",
        "auto",
        "--cnnzoo",
        "--precision fp32",
    )
    assert list(payload["times"]) == ["cnnzoo auto", "cnnzoo --precision fp32"]
    assert all(len(t) == 2 and min(t) > 0 for t in payload["times"].values())
    first, second = payload["rows"]
    assert first["ratio vs first"] == 1.0 and second["ratio vs first"] > 0
    assert "--precision fp32" in second["command"] and first["train img/s"] > 0


@pytest.mark.slow
def test_precision_accuracy_trains_each_seed_in_each_precision(tmp_path):
    payload = _run(
        "precision_accuracy",
        tmp_path,
        "--model",
        "lenet5",
        "--seeds",
        "0,1",
        "--epochs",
        "1",
        "--set",
        "limit_batches=3",
    )
    assert [(r["seed"], r["precision"]) for r in payload["runs"]] == [
        (0, "fp32"),
        (0, "bf16"),
        (1, "fp32"),
        (1, "bf16"),
    ]
    assert [r["precision"] for r in payload["rows"]] == ["fp32", "bf16"]
    assert all(0 <= r["final_top1"] <= 100 for r in payload["runs"])
