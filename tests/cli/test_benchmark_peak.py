"""The benchmark's achieved GFLOP/s against the machine's peak (a matmul in the same precision,
measured in the same call), on the CPU and (with torch.cuda monkeypatched) on the GPU path.
"""

from __future__ import annotations

import importlib

import pytest
import torch

import cnnzoo

CPU = torch.device("cpu")
bench = importlib.import_module("cnnzoo.apps.benchmark")  # cnnzoo.apps exports a function of this name


def test_benchmark_reports_gflops_against_the_measured_peak():
    (row,) = cnnzoo.benchmark("lenet5", device="cpu", batch_size=4, warmup=0, repeats=1, train=True, threads=1)
    assert row["peak_kind"] == "1024x1024 matmul, fp32" and row["peak_gflops_per_s"] > 0
    flops = 2 * row["gflops"] * 1e9  # hardware FLOPs of one image's forward
    assert row["infer_gflops_per_s"] == pytest.approx(flops * row["infer_images_per_s"] / 1e9)
    assert row["train_gflops_per_s"] == pytest.approx(3 * flops * row["train_images_per_s"] / 1e9)
    for kind in ("infer", "train"):
        fraction = row[f"{kind}_peak_fraction"]
        assert fraction == pytest.approx(row[f"{kind}_gflops_per_s"] / row["peak_gflops_per_s"])
        assert 0 < fraction < 2  # a network's kernels cannot beat the matmul by much (noise aside)


def test_matmul_peak_times_the_precisions_dtype_and_waits_for_the_device(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "synchronize", lambda d: calls.append(d))
    peak = bench.matmul_peak(CPU, "bf16", size=64)
    assert peak["peak_kind"] == "64x64 matmul, bf16" and peak["peak_gflops_per_s"] > 0
    assert len(calls) >= 4 and set(calls) == {CPU}  # after the warm-up and after every timed run
    assert bench._DTYPES == {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def test_benchmark_gpu_path_measures_its_peak_on_the_gpu(monkeypatch):
    # torch.cuda monkeypatched: the CUDA branch decides device, precision and sizes; the kernels
    # themselves are recorded instead of run (tests/test_cuda.py runs them on a GPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    seen: dict[str, object] = {}

    def peak(d, precision, size=None):
        seen["peak"] = (d, precision)
        return {"peak_gflops_per_s": 1000.0, "peak_kind": f"8192x8192 matmul, {precision}"}

    def timed(name, size, d, batch_size, precision, *rest):
        seen["model"] = (d, batch_size, precision)
        return {
            "infer_images_per_s": 2000.0,
            "infer_latency_ms": 32.0,
            "train_step_ms": 100.0,
            "train_images_per_s": 640.0,
        }

    monkeypatch.setattr(bench, "matmul_peak", peak)
    monkeypatch.setattr(bench, "_time_model", timed)
    monkeypatch.setattr(bench, "_release", lambda d: None)
    (row,) = cnnzoo.benchmark("resnet18", device="cuda", precision="bf16", train=True)
    gpu = torch.device("cuda", 0)
    assert seen == {"peak": (gpu, "bf16"), "model": (gpu, 64, "bf16")}
    assert row["train_gflops_per_s"] == pytest.approx(6 * row["gflops"] * 640.0)
    assert row["train_peak_fraction"] == pytest.approx(row["train_gflops_per_s"] / 1000.0)
    assert row["infer_peak_fraction"] == pytest.approx(2 * row["gflops"] * 2000.0 / 1000.0)


@pytest.mark.cuda
def test_matmul_peak_on_a_real_gpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    peak = bench.matmul_peak(torch.device("cuda", 0), "bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert peak["peak_gflops_per_s"] > 1000  # any GPU of the last decade does a teraFLOP/s in half precision
