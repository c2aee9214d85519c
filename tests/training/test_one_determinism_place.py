"""Which kernels a run uses (deterministic or autotuned, TF32) is set in one place,
``training.setup.process_settings``, for the run only; seeding only seeds."""

import ast
import os
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.data import build_data
from cnnzoo.training import TrainConfig, Trainer
from cnnzoo.training.distributed import DistInfo
from cnnzoo.training.seeding import seed_everything
from cnnzoo.training.setup import Runtime, process_settings, resolve_runtime

CPU, CUDA0 = torch.device("cpu"), torch.device("cuda", 0)
SRC = Path(cnnzoo.__file__).parent


@pytest.fixture
def flags():
    """Known starting values of the process-wide flags, put back after the test."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (
        cudnn.benchmark,
        cudnn.deterministic,
        cudnn.allow_tf32,
        matmul.allow_tf32,
        torch.are_deterministic_algorithms_enabled(),
    )
    cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = False, True, False  # PyTorch's defaults
    yield
    cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, matmul.allow_tf32 = saved[:4]
    torch.use_deterministic_algorithms(saved[4])


def _state() -> tuple:
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    return (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32, torch.are_deterministic_algorithms_enabled())


@pytest.mark.parametrize("deterministic", [False, True])
def test_process_settings_choose_the_kernels_of_a_gpu_run_and_restore_them(flags, monkeypatch, deterministic):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _state()
    # only the device's type is read: no GPU is touched
    with process_settings(TrainConfig(deterministic=deterministic), Runtime(DistInfo(), CUDA0, "fp32", False)):
        fast = not deterministic  # autotuning and TF32 pick kernels that may differ from run to run
        assert _state() == (fast, fast, fast, deterministic)
        # cuBLAS reads its workspace setting when it first allocates: set before, for a deterministic run
        assert (os.environ.get("CUBLAS_WORKSPACE_CONFIG") == ":4096:8") is deterministic
    assert _state() == before


def test_a_cpu_run_leaves_the_cuda_flags_alone(flags):
    before = _state()
    with process_settings(TrainConfig(deterministic=True, threads=1), Runtime(DistInfo(), CPU, "fp32", False)):
        assert _state() == (*before[:3], True) and torch.get_num_threads() == 1
    assert _state() == before


def test_seeding_and_resolving_the_runtime_set_no_kernel_flag(flags, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    before = _state()
    seed_everything(3)
    first = torch.rand(4)
    seed_everything(3)
    assert torch.equal(torch.rand(4), first)
    assert resolve_runtime(TrainConfig(deterministic=False)).device == CUDA0
    assert _state() == before


def test_a_deterministic_training_run_is_deterministic_only_while_it_runs(flags, tmp_path):
    seen = []
    b = build_data("digits", image_size=8, in_chans=1, batch_size=32, workers=0, device=CPU, seed=0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    cfg = TrainConfig(epochs=1, limit_batches=2, deterministic=True, device="cpu", verbose=False, output=str(tmp_path))
    Trainer(
        model,
        b.train_loader,
        b.val_loader,
        cfg,
        on_step=lambda t: seen.append(torch.are_deterministic_algorithms_enabled()),
    ).fit()
    assert seen == [True, True] and torch.are_deterministic_algorithms_enabled() is False


def test_only_process_settings_assigns_the_kernel_flags():
    # the flags are process-wide: set anywhere else, they would outlive the run that set them
    places = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            names = [ast.unparse(t) for t in targets]
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("use_deterministic_algorithms"):
                names.append("use_deterministic_algorithms")
            if any(
                n.endswith(("benchmark", "allow_tf32", "cudnn.deterministic", "use_deterministic_algorithms"))
                for n in names
            ):
                places.append(path.relative_to(SRC).as_posix())
    assert set(places) == {"training/setup.py"}


def test_seed_everything_keeps_its_old_flag_arguments_for_one_release(flags, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with pytest.warns(DeprecationWarning, match="process_settings"):
        seed_everything(0, True, CUDA0)
    assert _state() == (False, False, False, True) and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    with pytest.warns(DeprecationWarning, match="process_settings"):
        seed_everything(0, False, CUDA0)
    # as it always did: a later seeding turns autotuning on again, but never the deterministic mode off
    assert _state() == (True, True, True, True)
