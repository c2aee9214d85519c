import os

import pytest
import torch

# Tests are CPU-only and must not touch the network or the user's cache.
os.environ.setdefault("CNNZOO_OFFLINE", "1")

# pytest-xdist runs one worker per core: each takes one intra-op thread, so that the
# workers do not oversubscribe the cores (a test that wants more sets it)
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path_factory.mktemp("cnnzoo_home")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_collection_modifyitems(config, items):
    # `cuda` tests run the real thing on a GPU; without one they are skipped, saying why (the
    # CUDA branches themselves are also reached on the CPU, with torch.cuda monkeypatched)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
