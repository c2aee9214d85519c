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
import types
from pathlib import Path
from typing import Any

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
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
    proc = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *args, "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
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
    from cnnzoo.data import read_image

    stats = make_jpeg_folder.make_folder(tmp_path / "a", classes=2, train_per_class=2, val_per_class=1, seed=3)
    assert stats["images"] == 6
    files = sorted((tmp_path / "a").rglob("*.jpg"))
    assert [f.relative_to(tmp_path / "a").parts[:2] for f in files] == [
        ("train", "n00000000"),
        ("train", "n00000000"),
        ("train", "n00000001"),
        ("train", "n00000001"),
        ("val", "n00000000"),
        ("val", "n00000001"),
    ]
    for f in files:
        img = read_image(f)
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
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_jpeg_folder.py"), str(tmp_path / "x"), "--quality", "0"],
        capture_output=True,
        text=True,
    )
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
    assert {
        "float loader (before)",
        "uint8 loader (now)",
        "uint8 loader + normalise here",
        "reference",
        "decode only",
        "decode+crop+flip",
        "float loader (before), 1 worker(s)",
        "uint8 loader (now), 1 worker(s)",
    } <= set(rows)
    assert rows["float loader (before)"]["vs float loader"] == 1.0
    assert all(_positive(r["images/s"]) for r in rows.values())
    (gpu_path,) = [r for k, r in rows.items() if k.startswith("--decode gpu")]
    assert gpu_path["device"] == "cpu"  # no GPU here: the GPU code path ran on the CPU


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
    assert set(rows) == {
        "import torch",
        "import cnnzoo",
        "import torchvision",
        "import timm",
        "cnnzoo --help",
        "cnnzoo list",
    }
    assert all("error" not in r and _positive(r["median s"]) for r in rows.values())
    assert rows["import torch"]["vs torch s"] == 0.0
    assert payload["import_profile"]["heavy_loaded"] == []


# ---------------------------------------------------------------- gpu_check.sh and its parts
gpu_train = _load(BENCH / "gpu_train.py", "bench_gpu_train")


def test_step_clock_times_steps_inside_epochs_after_the_warm_up(monkeypatch):
    clock = gpu_train.StepClock(torch.device("cpu"), warmup=2, steps=3, batch_size=8)
    marks = [0.0, 1.0, 2.0, 10.0, 10.5, 11.0, 11.5]  # epoch 0: 3 steps, epoch 1: 4 steps
    times = iter(t for t in marks for _ in range(2))  # a CPU mark reads the clock twice (step, host)
    monkeypatch.setattr(gpu_train.time, "perf_counter", lambda: next(times))
    for epoch in (0, 0, 0, 1, 1, 1):
        clock.mark(epoch)
    assert clock.timed == 2  # the warm-up steps and the interval across the epoch's end are not timed steps
    with pytest.raises(gpu_train.Enough):  # the third timed step ends the run
        clock(types.SimpleNamespace(epoch=1))
    monkeypatch.undo()
    secs, windows = clock.intervals()
    assert secs == [0.5, 0.5, 0.5] and windows == [(10.0, 11.5)]
    assert clock.result() == {"img/s": 16.0, "mean img/s": 16.0, "steps": 3, "windows": [(10.0, 11.5)]}
    busy = gpu_train.Utilisation(torch.device("cpu"))
    busy.samples = [(9.0, 0.0), (10.2, 90.0), (11.4, 70.0), (12.0, 0.0)]  # the epoch's end is left out
    assert busy.mean(windows) == 80.0 and busy.mean([]) is None


def _check_dir(tmp_path, *, tests, best, timm, jpeg_mean, synth_mean, identical):
    tmp_path.mkdir()
    (tmp_path / "tests.log").write_text(f"....\n{tests}\n")

    def row(part, setting, who, ips, mean, **kw):
        return {
            "part": part,
            "model": "resnet50",
            "setting": setting,
            "who": who,
            "img/s": ips,
            "mean img/s": mean,
            "peak GB": 20.0,
            **kw,
        }

    synthetic = [
        row("synthetic", "bf16+cl", "cnnzoo", best, synth_mean),
        row("synthetic", "bf16+cl", "timm resnet50", timm, timm),
        row("synthetic", "fp32", "cnnzoo", 1000.0, 1000.0, error="OutOfMemoryError: CUDA out of memory"),
    ]
    jpeg = [row("jpeg", "bf16+cl", "cnnzoo", jpeg_mean, jpeg_mean, decode="cpu", **{"GPU busy %": 71.0})]
    for name, rows in (("synthetic", synthetic), ("jpeg", jpeg)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"rows": rows}))
    (tmp_path / "resume.json").write_text(json.dumps({"resume": {"identical": identical, "tensors": 320}}))
    return {r["check"]: r for r in gpu_train.report(tmp_path)}


def test_gpu_check_report_gives_each_target_its_verdict(tmp_path, capsys):
    met = _check_dir(
        tmp_path / "a",
        tests="7 passed in 41.2s",
        best=3900.0,
        timm=3700.0,
        jpeg_mean=3300.0,
        synth_mean=3800.0,
        identical=True,
    )
    assert met["cuda-marked tests"]["verdict"] == "ok"
    assert met["ResNet-50 synthetic, best bf16 setting"] == {
        "check": "ResNet-50 synthetic, best bf16 setting",
        "result": "3,900 img/s (bf16+cl)",
        "target": ">= 3,500 img/s",
        "verdict": "ok",
    }
    assert met["resnet50 bf16+cl: cnnzoo / timm resnet50"]["result"] == f"{3900 / 3700:.3f}"
    jpeg = met["resnet50 JPEG --decode cpu / synthetic (bf16+cl, means)"]
    assert (jpeg["result"], jpeg["verdict"]) == ("87 %", "ok")
    assert met["resume with --deterministic: identical weights"]["verdict"] == "ok"
    assert met["resnet50 synthetic, fp32, cnnzoo"]["verdict"] == "MISS"  # a row that failed says why
    assert "OutOfMemoryError" in met["resnet50 synthetic, fp32, cnnzoo"]["result"]
    assert "GPU busy 71 %" in met["resnet50 jpeg, bf16+cl, --decode cpu, cnnzoo"]["result"]
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("| resume with")  # the table comes last
    missed = _check_dir(
        tmp_path / "b",
        tests="6 passed, 1 failed in 40.0s",
        best=3000.0,
        timm=3100.0,
        jpeg_mean=2000.0,
        synth_mean=3000.0,
        identical=False,
    )
    assert {k: v["verdict"] for k, v in missed.items() if v["target"]} == {
        "cuda-marked tests": "MISS",
        "ResNet-50 synthetic, best bf16 setting": "MISS",
        "resnet50 bf16+cl: cnnzoo / timm resnet50": "MISS",
        "resnet50 JPEG --decode cpu / synthetic (bf16+cl, means)": "MISS",
        "resume with --deterministic: identical weights": "MISS",
    }


def test_gpu_check_refuses_unknown_arguments():
    proc = subprocess.run(["bash", str(BENCH / "gpu_check.sh"), "--fast"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument '--fast'" in proc.stderr


@pytest.mark.slow  # a dozen subprocesses importing torch (2-4 minutes on two cores)
def test_gpu_check_smoke(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu_check.sh"), "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    last = proc.stdout.rstrip().splitlines()
    assert "| check | result | target | verdict |" in last and last[-1].startswith("| gpu_check.sh stages")
    report = {line.split(" | ")[0].lstrip("| "): line for line in last if line.startswith("| ")}
    assert "skipped" in report["cuda-marked tests"]  # no GPU: the cuda tests skip, saying so
    assert "| identical |" in report["resume with --deterministic: identical weights"]
    assert "needs CUDA" in report["resnet50 jpeg, fp32, --decode gpu, cnnzoo"]
    rows = {
        (r["part"], r["model"], r["who"], r.get("decode")): r
        for name in ("synthetic", "jpeg", "others")
        for r in json.loads((out / f"{name}.json").read_text())["rows"]
    }
    for key in [
        ("synthetic", "resnet50", "cnnzoo", None),
        ("synthetic", "resnet50", "timm resnet50", None),
        ("jpeg", "resnet50", "cnnzoo", "cpu"),
        ("loader", "-", "cnnzoo", "cpu"),
        ("synthetic", "googlenet", "cnnzoo", None),
        ("synthetic", "vgg16", "cnnzoo", None),
        ("synthetic", "densenet121", "cnnzoo", None),
        ("synthetic", "mobilenet_v2", "cnnzoo", None),
    ]:
        assert _positive(rows[key]["img/s"]), key
    command = rows[("synthetic", "resnet50", "cnnzoo", None)]["command"]
    assert command.startswith("cnnzoo train --model resnet50 --data synth")
    assert (out / "report.md").read_text().strip().splitlines()[-1] == last[-1]


@pytest.mark.slow  # 35 subprocesses, each importing torch: two minutes on two cores
def test_decoders_benchmark_smoke(tmp_path):
    payload = _run("decoders", tmp_path, "--images", "2", "--repeats", "1")
    assert {r["decoder"] for r in payload["rows"]} >= {"Pillow", "cnnzoo (Pillow fallback)"}
    assert all(_positive(r["images/s"]) for r in payload["rows"])
    ours = [r for r in payload["damaged"] if r["decoder"].startswith("cnnzoo")]
    assert ours and not [r for r in ours if "CRASH" in r["outcome"]]
    assert all(r["outcome"].startswith(("DataError: ", "decoded")) for r in ours)


@pytest.mark.slow  # five cnnzoo train processes
def test_preemption_benchmark_smoke(tmp_path: Path) -> None:
    payload = _run("preemption", tmp_path, "--models", "lenet5:digits:32:5", "--threads", "1")
    (row,) = payload["rows"]
    assert row["model"] == "lenet5" and row["data"] == "digits" and row["exit"] == 143
    assert row["saved step"] >= 3 and row["last.pt MB"] > 0  # saved mid-epoch, past the first step-3 save
    assert _positive(row["sigterm to exit s"]) and _positive(row["fresh first step s"])
    assert _positive(row["resumed first step s"]) and row["step ms"] >= 0
