"""Joining the processes torchrun started resolves the device with the one resolver (cnnzoo.device):
a GPU the machine lacks is refused there, with its words, before any process group is made."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.errors import DeviceError
from cnnzoo.training import distributed


@pytest.fixture
def two_processes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: made.append(kw["backend"]))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return made


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"], ids=["bare", "indexed"])  # an id "cuda" asks for a GPU
def test_a_gpu_the_machine_lacks_is_refused_before_joining(two_processes: list[str], spec: str) -> None:
    with pytest.raises(DeviceError, match=f"--device {spec} needs CUDA.*use --device cpu or auto"):
        distributed.setup_distributed(spec)
    assert two_processes == []  # no process group was made


def test_auto_without_a_gpu_joins_with_gloo(two_processes: list[str]) -> None:
    assert distributed.setup_distributed("auto").world_size == 2
    assert two_processes == ["gloo"]
