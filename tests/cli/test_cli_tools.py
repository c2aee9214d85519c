"""The info, predict, benchmark and export commands (through cli.main) and their Python API."""

import json
import sys

import pytest
import torch
from helpers import run_cli

import cnnzoo
from cnnzoo import apps as tools
from cnnzoo import cli
from cnnzoo.errors import ExportError, MissingDependencyError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- info
def test_info_table(capsys):
    code, out, _ = run_cli(capsys, "info", "vgg16")
    assert code == 0
    assert "features.0 (Conv2d)" in out and "64x224x224" in out
    assert "Parameters: 138,357,544" in out and "15.470 GFLOPs" in out
    assert "receptive field 212 px (jump 32, start -90)" in out
    code, out, _ = run_cli(capsys, "info", "vgg16", "--depth", "1")
    assert "features.0" not in out and "features (Sequential)" in out


def test_info_json_and_input_size(capsys):
    code, out, _ = run_cli(capsys, "info", "resnet18", "--input-size", "3", "64", "64", "--json")
    d = json.loads(out)
    assert code == 0 and d["input_size"] == [3, 64, 64]
    assert d["totals"]["params"] == 11_689_512
    assert d["totals"]["final_feature_map"]["shape"] == [512, 2, 2]


def test_info_errors_are_one_line(capsys):
    code, out, err = run_cli(capsys, "info", "resnet17")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "resnet18" in err
    code, _, err = run_cli(capsys, "info", "vgg16", "--input-size", "3", "8", "8")
    assert code == 2 and "smaller" in err


# ---------------------------------------------------------------- predict
@pytest.fixture
def digit_images(tmp_path):
    """20 real validation digits (never seen in training), upscaled to 64x64 PNG files."""
    from cnnzoo.data import digits_dataset, encode_png

    ds = digits_dataset("val", image_size=64, in_chans=1)
    paths, labels = [], []
    for i in range(20):
        x, y = ds[i]
        img = ((x * 0.5 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)  # undo mean/std 0.5
        path = tmp_path / f"digit{i:02d}.png"
        path.write_bytes(encode_png(img))
        paths.append(str(path))
        labels.append(str(int(y)))
    return paths, labels


def test_predict_classifies_real_digits(capsys, digit_images):
    paths, labels = digit_images
    code, out, _ = run_cli(capsys, "predict", "--model", "lenet5", *paths, "--topk", "3", "--json")
    assert code == 0
    results = json.loads(out)
    assert [r["image"] for r in results] == paths and all(len(r["top"]) == 3 for r in results)
    correct = sum(r["top"][0]["label"] == label for r, label in zip(results, labels))
    assert correct >= 18, f"{correct}/20 digits right"
    assert all(abs(sum(t["prob"] for t in r["top"]) - 1) < 0.05 or r["top"][0]["prob"] > 0.5 for r in results)
    # the weight tag as `cnnzoo weights list` prints it (lenet5.digits) or without the model's name
    for tag in ("digits", "lenet5.digits"):
        code, again, _ = run_cli(
            capsys, "predict", "--model", "lenet5", "--pretrained", tag, *paths, "--topk", "3", "--json"
        )
        assert code == 0 and json.loads(again) == results, tag


def test_predict_text_and_saliency_png(capsys, digit_images, tmp_path):
    from cnnzoo.data import read_image

    paths, labels = digit_images
    out_png = tmp_path / "sal.png"
    code, out, _ = run_cli(
        capsys, "predict", "--model", "lenet5", "--pretrained", "digits", paths[0], "--saliency", str(out_png)
    )
    assert code == 0 and out.splitlines()[0] == paths[0]
    assert out.splitlines()[1].split()[1] == labels[0]  # "  1. <label>  <prob>"
    img = read_image(out_png)
    assert img.shape[0] == 3 and img.shape[1] >= 224 and img.shape[2] > 1.5 * img.shape[1]
    code, _, _ = run_cli(capsys, "predict", "--model", "lenet5", *paths[:2], "--saliency", str(out_png))
    assert code == 0
    for p in paths[:2]:
        assert (tmp_path / f"sal-{p.rsplit('/', 1)[1][:-4]}.png").read_bytes()[:8] == PNG_MAGIC


def test_predict_errors(capsys, tmp_path):
    code, _, err = run_cli(capsys, "predict", "--model", "lenet5", str(tmp_path / "missing.png"))
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, err = run_cli(capsys, "predict", "--model", "lenet5", str(bad))
    assert code == 2 and "decode" in err
    code, _, err = run_cli(capsys, "predict", "--model", "lenet5", "--pretrained", "nosuchtag", str(bad))
    assert code == 2


# ---------------------------------------------------------------- benchmark
def test_benchmark_json_fields(capsys):
    code, out, _ = run_cli(
        capsys,
        "benchmark",
        "--models",
        "lenet5",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--warmup",
        "1",
        "--repeats",
        "2",
        "--train",
        "--json",
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["model"] == "lenet5" and row["params"] == 61_706 and row["device"] == "cpu"
    assert row["gflops"] == pytest.approx(count_macs_lenet5() / 1e9)
    for key in ("infer_images_per_s", "infer_latency_ms", "train_images_per_s", "train_step_ms"):
        assert row[key] > 0, key
    assert row["infer_images_per_s"] == pytest.approx(2 / (row["infer_latency_ms"] / 1e3))
    if sys.platform.startswith("linux"):
        assert row["memory_kind"] == "cpu_peak_rss_growth" and row["peak_memory_mb"] >= 0


def count_macs_lenet5():
    return cnnzoo.count_flops("lenet5").macs


def test_benchmark_table_and_errors(capsys, monkeypatch):
    code, out, _ = run_cli(
        capsys,
        "benchmark",
        "--models",
        "lenet5",
        "--device",
        "cpu",
        "--warmup",
        "0",
        "--repeats",
        "1",
        "--batch-size",
        "1",
    )
    assert code == 0 and out.splitlines()[0].split()[:3] == ["MODEL", "PARAMS(M)", "GFLOPs"]
    assert out.splitlines()[1].split()[0] == "lenet5" and "resident set" in out
    code, _, err = run_cli(capsys, "benchmark", "--models", "lenet5", "--device", "cpu", "--precision", "fp16")
    assert code == 2 and "fp16 needs CUDA" in err
    code, _, err = run_cli(capsys, "benchmark", "--models", "nomatch*")
    assert code == 2 and "no model matches" in err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # whatever this host has
    code, _, err = run_cli(capsys, "benchmark", "--models", "lenet5", "--device", "cuda")
    assert code == 2 and "needs CUDA" in err


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_benchmark_chart(capsys, tmp_path):
    chart = tmp_path / "chart.png"
    code, out, err = run_cli(
        capsys, "benchmark", "--models", "se_resnet*", "--no-timing", "--json", "--plot", str(chart)
    )
    assert code == 0 and chart.read_bytes()[:8] == PNG_MAGIC
    rows = json.loads(out)
    assert [r["model"] for r in rows] == ["se_resnet18", "se_resnet34", "se_resnet50", "se_resnet101", "se_resnet152"]
    assert all(r["top1"] > 70 and "infer_images_per_s" not in r for r in rows)
    assert "chart of 5 models" in err


def test_chart_leaves_off_models_without_published_accuracy(tmp_path):
    rows = tools.accuracy_chart(tmp_path / "c.png", ["resnet18", "resnet18v2", "resnet50v2", "lenet5"])
    assert [r["model"] for r in rows] == ["resnet18", "resnet50v2"]
    # resnet50v2's top-1 is published at 288x288, so it is charted at that size's cost
    assert rows[1]["input_size"] == [3, 288, 288]
    assert rows[1]["gflops"] == pytest.approx(4.089 * (288 / 224) ** 2, rel=0.02)


def test_chart_needs_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cnnzoo\[plot\]'"):
        tools.accuracy_chart(tmp_path / "c.png", "resnet18")
    assert not (tmp_path / "c.png").exists()


# ---------------------------------------------------------------- export
@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_export_onnx_round_trip(capsys, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "lenet5.onnx"
    code, out, _ = run_cli(
        capsys, "export", "--model", "lenet5", "--pretrained", "--format", "onnx", "--output", str(path)
    )
    assert code == 0 and "onnxruntime" in out and str(path) in out
    model = cnnzoo.create_model("lenet5", pretrained=True).eval()
    x = torch.randn(5, 1, 32, 32)  # another batch size than the export's: the batch axis is dynamic
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(x), atol=1e-4, rtol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["lenet5.onnx"]  # no temporary file left


def test_export_torch_export_round_trip_is_the_default(capsys, tmp_path):
    path = tmp_path / "lenet5.pt2"
    code, out, _ = run_cli(capsys, "export", "--model", "lenet5", "--pretrained", "--output", str(path))
    assert code == 0 and "(export, dynamic batch" in out and "torch.export.load" in out
    model = cnnzoo.create_model("lenet5", pretrained=True).eval()
    with open(path, "rb") as f:
        program = torch.export.load(f)
    x = torch.randn(7, 1, 32, 32)  # neither the export's batch (2) nor the check's (3)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), atol=1e-5, rtol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["lenet5.pt2"]
    assert tools.export(model, tmp_path / "x.bin")["format"] == "export"  # no known suffix: torch.export


# one registered model per network class; every one exports both ways with a dynamic batch
FAMILY_EXPORTS = [
    "lenet5",
    "alexnet",
    "zfnet",
    "vgg11_bn",
    "googlenet",
    "resnet18",
    "resnet18v2",
    "se_resnet18",
    "densenet_bc_100_k12",
    "mobilenet_v1_025",
    "mobilenet_v2",
]


@pytest.mark.parametrize("fmt", ["export", "onnx"])
@pytest.mark.parametrize(
    "name", [n if n == "lenet5" else pytest.param(n, marks=pytest.mark.slow) for n in FAMILY_EXPORTS]
)
def test_every_family_exports_with_a_dynamic_batch(name, fmt, tmp_path):
    model = cnnzoo.create_model(name)
    c, h, w = model.min_input_size
    size = (c, h, w) if model.fixed_input_size else (c, max(h, 32), max(w, 32))
    report = tools.export(model, tmp_path / f"m.{'pt2' if fmt == 'export' else 'onnx'}", fmt, input_size=size)
    assert report["checked_batch"] != report["example_batch"] and report["max_abs_diff"] <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_export_torchscript_round_trip(capsys, tmp_path):
    path = tmp_path / "m.pt"
    code, out, _ = run_cli(
        capsys,
        "export",
        "--model",
        "mobilenet_v1_025",
        "--format",
        "torchscript",
        "--output",
        str(path),
        "--input-size",
        "3",
        "64",
        "64",
        "--num-classes",
        "7",
    )
    assert code == 0 and "torch.jit.load" in out
    loaded = torch.jit.load(str(path))
    assert loaded(torch.randn(3, 3, 64, 64)).shape == (3, 7)


def test_export_refuses_a_mismatch_and_leaves_no_file(tmp_path):
    model = cnnzoo.create_model("lenet5", num_classes=3)
    with pytest.raises(ExportError, match="differs"):
        tools.export(model, tmp_path / "x.pt", "torchscript", atol=-1.0, rtol=0.0)
    assert list(tmp_path.iterdir()) == []


def test_export_errors(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "export", "--model", "lenet5", "--format", "onnx", "--output", str(tmp_path / "no" / "dir.onnx")
    )
    assert code == 2 and "does not exist" in err
    with pytest.raises(SystemExit) as e:
        cli.main(["export", "--model", "lenet5", "--format", "tflite", "--output", str(tmp_path / "x")])
    assert e.value.code == 2


@pytest.mark.parametrize("package", ["onnx", "onnxscript", "onnxruntime"])
def test_export_onnx_needs_its_packages(monkeypatch, tmp_path, package):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(MissingDependencyError, match=rf"{package} is missing.*pip install 'cnnzoo\[export\]'"):
        tools.export(cnnzoo.create_model("lenet5"), tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []
