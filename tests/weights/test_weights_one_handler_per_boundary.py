"""Failures that one handler per boundary classifies: a download (cnnzoo's or the Hub's) that fails
in any way, a checkpoint that is no torch file or no run's, an optional package that is missing.
Each is a cnnzoo error that says what happened, and nothing is left in the cache."""

from __future__ import annotations

import errno
import io
import os
import sys
import urllib.request

import pytest
import test_download
import torch
from test_download import TAG, add_entry, cache_files

import cnnzoo
from cnnzoo.errors import (
    CheckpointError,
    MissingDependencyError,
    OfflineError,
    WeightsDownloadError,
    WriteError,
)
from cnnzoo.weights import cache, hfhub
from cnnzoo.weights.checkpoint import load_checkpoint

server = test_download.server  # the local HTTP server fixture of test_download.py


class Gadget:
    """Anything torch's weights-only unpickler does not know: loading it would run a constructor."""


def _lenet_bytes(extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    torch.save({**cnnzoo.create_model("lenet5").state_dict(), **(extra or {})}, buffer)
    return buffer.getvalue()


def test_a_full_disk_during_a_download_is_the_write_error_itself(server, monkeypatch):
    add_entry(monkeypatch, server, _lenet_bytes())

    class Full(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache, "open", lambda path, mode: Full(path, mode), raising=False)
    with pytest.raises(WriteError, match="No space left on device.*nothing was written"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_a_connection_reset_is_a_download_error(server, monkeypatch):
    add_entry(monkeypatch, server, _lenet_bytes())

    def reset(*args, **kwargs):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(urllib.request, "urlopen", reset)
    with pytest.raises(WeightsDownloadError, match="failed: ConnectionResetError.*nothing was kept"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_an_unpinned_download_that_needs_unpickling_is_not_kept(server, monkeypatch):
    # no published hash: the finished file must read as weights before it is kept (and trusted)
    add_entry(monkeypatch, server, _lenet_bytes({"x": Gadget()}), sha256=None, hash_prefix=None)
    with pytest.raises(WeightsDownloadError, match="not a whole weights file.*arbitrary unpickling"):
        cnnzoo.download_weights(TAG, progress=False)
    assert cache_files() == []


def test_hub_download_failures_are_classified(tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("CNNZOO_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for error, kind, words in (
        (LocalEntryNotFoundError("connection refused"), OfflineError, "Hub cannot be reached"),
        (RuntimeError("500 Server Error\nbody"), WeightsDownloadError, "failed: 500 Server Error$"),
    ):

        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", fail)
        with pytest.raises(kind, match=words):
            cnnzoo.create_model("resnet18", pretrained="hf-hub:someone/net")


def test_a_legacy_format_checkpoint_loads_and_a_safetensors_file_is_no_checkpoint(tmp_path):
    state = {"model": cnnzoo.create_model("lenet5").state_dict(), "model_name": "lenet5"}
    legacy = tmp_path / "best.pt"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)  # torch.save's format before 1.6
    assert load_checkpoint(legacy)["model_name"] == "lenet5"
    safetensors = pytest.importorskip("safetensors.torch")
    plain = tmp_path / "weights.safetensors"
    plain.write_bytes(safetensors.save(state["model"]))
    with pytest.raises(CheckpointError, match="has no 'model'/'model_name' entries.*--pretrained PATH"):
        load_checkpoint(plain)


def test_missing_optional_packages_name_what_needed_them(tmp_path, monkeypatch):
    model = cnnzoo.create_model("lenet5")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(MissingDependencyError, match="save_pretrained .* pip install safetensors"):
        cnnzoo.save_pretrained(model, tmp_path / "out")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingDependencyError, match="push_to_hub needs huggingface_hub: pip install huggingface_hub"):
        cnnzoo.push_to_hub(model, "someone/net")
    with pytest.raises(MissingDependencyError, match="hf-hub:someone/net needs huggingface_hub: pip install"):
        hfhub.hub_checkpoint("someone/net")
