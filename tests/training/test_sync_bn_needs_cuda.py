"""--sync-bn across processes on CPUs is one clear DeviceError, said before the model is built.

torch's SyncBatchNorm runs on GPUs only: without this check DDP raised a bare ValueError (a
traceback on every rank) after the model and the data were made."""

from __future__ import annotations

import pytest

from cnnzoo.errors import DeviceError
from cnnzoo.training import setup
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.distributed import DistInfo


def _two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # this process as rank 0 of 2, without starting a second one: resolve_runtime reads only the DistInfo
    monkeypatch.setattr(setup, "setup_distributed", lambda device, timeout_s=None: DistInfo(0, 2, 0))


def test_sync_bn_on_cpu_across_processes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _two_processes(monkeypatch)
    with pytest.raises(DeviceError, match="--sync-bn needs CUDA"):
        setup.resolve_runtime(TrainConfig(model="resnet20", device="cpu", sync_bn=True))


def test_cpu_across_processes_without_sync_bn_and_one_process_with_it_are_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert setup.resolve_runtime(TrainConfig(model="resnet20", device="cpu", sync_bn=True)).device.type == "cpu"
    _two_processes(monkeypatch)
    runtime = setup.resolve_runtime(TrainConfig(model="resnet20", device="cpu"))
    assert runtime.dist.world_size == 2 and runtime.device.type == "cpu"
