"""A weights file that says whose it is: a published (catalogued) file recognised by its SHA-256, or a cnnzoo
run's checkpoint by its model_name. Given to another model, either is one IncompatibleWeightsError that
names both models and the call that loads it; a file that needs unpickling is refused as what each reader
promises (UnsafeCheckpointError, which is also a CheckpointError)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os

import pytest
import torch

import cnnzoo
from cnnzoo.errors import CheckpointError, IncompatibleWeightsError, UnsafeCheckpointError, WeightsError
from cnnzoo.weights import checkpoint
from cnnzoo.weights.catalogue import CATALOGUE


def test_a_published_file_given_to_another_model(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    torch.save(cnnzoo.create_model("lenet5", num_classes=10).state_dict(), buffer)
    path = tmp_path / "digits.pth"
    path.write_bytes(buffer.getvalue())
    entry = CATALOGUE["lenet5.digits"]
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    monkeypatch.setitem(CATALOGUE, entry.tag, dataclasses.replace(entry, sha256=digest, hash_prefix=None))
    with pytest.raises(IncompatibleWeightsError) as caught:
        cnnzoo.create_model("resnet18", pretrained=path)
    message = str(caught.value)
    assert "the published 'lenet5.digits' file of 'lenet5', not 'resnet18'" in message
    assert f"create_model('lenet5', pretrained='{path}')" in message
    assert cnnzoo.create_model("lenet5", pretrained=path).pretrained_cfg["tag"] == "lenet5.digits"


def test_a_runs_checkpoint_given_to_another_model(tmp_path):
    path = tmp_path / "best.pt"
    torch.save({"model": cnnzoo.create_model("lenet5").state_dict(), "model_name": "lenet5"}, path)
    with pytest.raises(IncompatibleWeightsError, match=r"a checkpoint of 'lenet5', not 'resnet18': use create_model"):
        cnnzoo.create_model("resnet18", pretrained=path)
    assert cnnzoo.create_model("lenet5", pretrained=path).pretrained_cfg["layout"] == "cnnzoo"


class _Payload:
    def __reduce__(self):
        return (os.getpid, ())


def test_unsafe_unpickling_is_both_errors(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "model_name": "lenet5", "extra": _Payload()}, path)
    with pytest.raises(CheckpointError, match="arbitrary unpickling") as caught:
        checkpoint.load_checkpoint(path)
    assert isinstance(caught.value, UnsafeCheckpointError) and isinstance(caught.value, WeightsError)
    with pytest.raises(UnsafeCheckpointError, match="arbitrary unpickling"):
        cnnzoo.create_model("lenet5", pretrained=path)
