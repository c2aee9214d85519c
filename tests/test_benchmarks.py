"""The benchmark scripts run (smoke mode, as subprocesses) and write the JSON they promise.

Also the timing helpers they share (interleaving, paired ratios, the median's confidence
interval) and scripts/make_jpeg_folder.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


def _load(path: Path, name: str) -> Any:
    sys.path.insert(0, str(path.parent))  # the benchmarks import their sibling _common
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


common = _load(BENCH / "_common.py", "bench_common")
make_jpeg_folder = _load(REPO / "scripts" / "make_jpeg_folder.py", "make_jpeg_folder")


def _run(script: str, tmp_path: Path, *args: str, timeout: int = 600) -> dict[str, Any]:
    out = tmp_path / f"{script}.json"
    # the smoke runs are of the CPU paths, also on a host with a GPU
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert payload["machine"]["torch"] == torch.__version__
    assert payload["machine"]["cpu"] and payload["machine"]["threads"] >= 1
    assert payload["rows"], proc.stdout[-2000:]
    return payload


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


# ---------------------------------------------------------------- the shared helpers
def test_median_ci_order_statistics() -> None:
    # n=10: [x(2), x(9)] covers the median with 97.9 %; [x(3), x(8)] only with 89 %
    assert common.median_ci([float(i) for i in range(10, 0, -1)]) == (2.0, 9.0)
    assert common.median_ci([float(i) for i in range(1, 21)]) == (6.0, 15.0)
    assert common.median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0)  # too few for 95 %: the range
    assert common.median_ci([7.0]) == (7.0, 7.0)
    with pytest.raises(ValueError):
        common.median_ci([])


def test_paired_ratio_is_the_median_of_round_ratios() -> None:
    assert common.paired_ratio([2.0, 10.0, 3.0], [1.0, 10.0, 1.0]) == 2.0  # ratios 2, 1, 3
    with pytest.raises(ValueError):
        common.paired_ratio([1.0], [1.0, 2.0])


def test_interleaved_alternates_the_order() -> None:
    calls: list[str] = []
    fns = {k: (lambda k=k: calls.append(k)) for k in ("a", "b", "c")}
    times = common.interleaved(fns, torch.device("cpu"), warmup=1, repeats=3)
    assert calls == ["a", "b", "c", "a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(t >= 0 for v in times.values() for t in v)


def test_write_json_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    common.write_json(str(target), {"a": 1})
    common.write_json(str(target), {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind
    common.write_json(None, {"a": 3})  # no path: nothing written, no error


def test_print_table_with_no_rows(capsys: pytest.CaptureFixture[str]) -> None:
    common.print_table([], ["model", "ratio"])
    assert capsys.readouterr().out.split() == ["model", "ratio"]


# ---------------------------------------------------------------- make_jpeg_folder
def test_make_jpeg_folder_layout_sizes_and_determinism(tmp_path: Path) -> None:
    from torchvision.io import decode_jpeg, read_file

    stats = make_jpeg_folder.make_folder(tmp_path / "a", classes=2, train_per_class=2, val_per_class=1, seed=3)
    assert stats["images"] == 6
    files = sorted((tmp_path / "a").rglob("*.jpg"))
    assert [f.relative_to(tmp_path / "a").parts[:2] for f in files] == [
        ("train", "n00000000"), ("train", "n00000000"), ("train", "n00000001"), ("train", "n00000001"),
        ("val", "n00000000"), ("val", "n00000001")]
    for f in files:
        img = decode_jpeg(read_file(str(f)))
        assert img.shape[0] == 3 and 300 <= img.shape[1] <= 500 and 300 <= img.shape[2] <= 500
        assert f.stat().st_size > 15_000  # textured content, not a flat image that compresses to nothing
        assert img.float().std() > 10
    make_jpeg_folder.make_folder(tmp_path / "b", classes=2, train_per_class=2, val_per_class=1, seed=3)
    again = sorted((tmp_path / "b").rglob("*.jpg"))
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in again]
    with pytest.raises(FileExistsError):
        make_jpeg_folder.make_folder(tmp_path / "a", classes=1, train_per_class=1, val_per_class=0)
    with pytest.raises(ValueError):
        make_jpeg_folder.make_folder(tmp_path / "c", min_size=500, max_size=300)


def test_make_jpeg_folder_cli_reports_bad_input(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_jpeg_folder.py"), str(tmp_path / "x"),
                           "--quality", "0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "quality" in proc.stderr and len(proc.stderr.splitlines()) == 1


# ---------------------------------------------------------------- the scripts, smoke mode
@pytest.mark.slow  # a subprocess importing torch, torchvision and timm
def test_models_benchmark_smoke(tmp_path: Path) -> None:
    payload = _run("models", tmp_path, "--smoke", "--models", "resnet18", "--control", "resnet18")
    control, row = payload["rows"]
    assert control["vs"] == "itself (A/A)" and control["ops"] == "same" and control["same output"] is True
    assert row["model"] == "resnet18" and row["vs"] == "torchvision"
    assert row["same output"] is True and row["rel diff"] < 1e-4  # our ResNet-18 computes torchvision's function
    assert isinstance(row["ops"], str) and row["ops"]
    for mode in ("fwd", "fwd+bwd"):
        assert _positive(row[f"{mode} ours ms"]) and _positive(row[f"{mode} theirs ms"])
        assert _positive(row[f"{mode} ratio"]) and row[f"{mode} rounds"] == 2
        assert row[f"{mode} verdict"] in ("ok", "MISS", "unclear")
        lo, hi = map(float, row[f"{mode} 95% CI"].split("-"))
        assert lo <= row[f"{mode} ratio"] <= hi


@pytest.mark.slow  # a subprocess importing torch, torchvision and timm
def test_trainer_benchmark_smoke(tmp_path: Path) -> None:
    payload = _run("trainer", tmp_path, "--smoke", "--models", "lenet5")
    (row,) = payload["rows"]
    assert row["model"] == "lenet5" and row["input"] == "1x32x32"
    assert _positive(row["trainer img/s"]) and _positive(row["hand loop img/s"])
    assert math.isfinite(row["overhead %"]) and row["rounds"] == 2
    assert len(row["trainer s"]) == len(row["hand s"]) == 2


@pytest.mark.slow  # a subprocess importing torch, torchvision and timm
def test_input_benchmark_smoke(tmp_path: Path) -> None:
    payload = _run("input", tmp_path, "--smoke")
    rows = {r["pipeline"]: r for r in payload["rows"]}
    assert {"reference", "cnnzoo dataset", "cnnzoo loader", "decode only", "decode+crop+flip"} <= set(rows)
    assert rows["reference"]["vs reference"] == 1.0
    assert all(_positive(r["images/s"]) for r in rows.values())
    (gpu_path,) = [r for k, r in rows.items() if k.startswith("nvJPEG")]
    assert gpu_path["device"] == "cpu"  # no GPU here: the GPU code path ran on the CPU


@pytest.mark.slow  # a subprocess importing torch, torchvision and timm
def test_gpu_train_benchmark_smoke(tmp_path: Path) -> None:
    payload = _run("gpu_train", tmp_path, "--smoke", "--models", "mobilenet_v2", "--settings", "fp32,bf16+cl")
    assert [(r["model"], r["setting"]) for r in payload["rows"]] == [("mobilenet_v2", "fp32"),
                                                                     ("mobilenet_v2", "bf16+cl")]
    for r in payload["rows"]:
        assert r["reference"] == "timm mobilenetv2_100"
        assert _positive(r["ours img/s"]) and _positive(r["ref img/s"]) and _positive(r["ours/ref"])
        assert r["ours peak GB"] is None and r["ref peak GB"] is None  # no CUDA memory to report on a CPU
    assert payload["args"]["batch_size"] == 2 and payload["args"]["device"] == "cpu"


@pytest.mark.slow  # a subprocess importing torch, torchvision and timm
def test_import_profile_loads_nothing_heavy() -> None:
    import_time = _load(BENCH / "import_time.py", "bench_import_time")
    profile = import_time.import_profile("cnnzoo")
    assert profile["heavy_loaded"] == []  # torchvision, timm, matplotlib ... stay behind cnnzoo's lazy map
    assert 0 < profile["extra_modules"] < 100
    assert profile["extra_self_s"] < 0.3


@pytest.mark.slow
def test_import_time_smoke(tmp_path: Path) -> None:
    payload = _run("import_time", tmp_path, "--smoke")
    rows = {r["command"]: r for r in payload["rows"]}
    assert set(rows) == {"import torch", "import cnnzoo", "import torchvision", "import timm", "cnnzoo --help",
                         "cnnzoo list"}
    assert all("error" not in r and _positive(r["median s"]) for r in rows.values())
    assert rows["import torch"]["vs torch s"] == 0.0
    assert payload["import_profile"]["heavy_loaded"] == []


@pytest.mark.slow
def test_gpu_train_benchmark_full_smoke(tmp_path: Path) -> None:
    payload = _run("gpu_train", tmp_path, "--smoke")
    got = [(r["model"], r["setting"]) for r in payload["rows"]]
    assert got == [("resnet50", "fp32"), ("resnet50", "bf16"), ("resnet50", "bf16+cl"), ("googlenet", "bf16+cl"),
                   ("vgg16", "bf16+cl"), ("densenet121", "bf16+cl"), ("mobilenet_v2", "bf16+cl")]
    assert all(_positive(r["ours img/s"]) and _positive(r["ref img/s"]) for r in payload["rows"])
