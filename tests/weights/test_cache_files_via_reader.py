"""A cached weights file and its trust record are read through the one reader of files: a directory (or any
other non-file) in their place is one cnnzoo error naming it, from `download_weights` (which hashes the cached
copy) as from `create_model`, never a raw IsADirectoryError; a hash mismatch says how to get a good copy."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from helpers import cli_error

import cnnzoo
from cnnzoo.errors import HashMismatchError, WeightsError
from cnnzoo.weights import cache
from cnnzoo.weights.catalogue import CATALOGUE

TAG = "lenet5.digits"


@pytest.fixture
def unpinned(monkeypatch):
    """lenet5's weights as a downloadable, unpinned entry (trust on first use), its file in the cache."""
    buffer = io.BytesIO()
    torch.save(cnnzoo.create_model("lenet5", num_classes=10).state_dict(), buffer)
    url, name = "https://example.invalid/lenet5-cached.pth", "lenet5-cached.pth"
    entry = dataclasses.replace(CATALOGUE[TAG], url=url, filename=name, sha256=None, hash_prefix=None)
    monkeypatch.setitem(CATALOGUE, TAG, entry)
    path = cache.cached_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return entry, path


def test_a_cached_weights_path_that_is_a_directory(unpinned):
    entry, path = unpinned
    path.unlink()
    path.mkdir()
    for call in (lambda: cnnzoo.download_weights(TAG, progress=False), lambda: cnnzoo.create_model(TAG)):
        with pytest.raises(WeightsError, match="is a directory, not a file") as caught:
            call()
        assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_trust_record_that_is_a_directory(unpinned):
    entry, path = unpinned
    record = path.with_name(path.name + ".sha256")
    record.mkdir()
    for call in (lambda: cnnzoo.download_weights(TAG, progress=False), lambda: cnnzoo.create_model(TAG)):
        with pytest.raises(HashMismatchError, match="trust record .* is a directory"):
            call()


def test_a_changed_cached_file_says_how_to_get_a_good_copy(unpinned, monkeypatch):
    entry, path = unpinned
    monkeypatch.setitem(CATALOGUE, TAG, dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(HashMismatchError, match=r"not the published one .*; delete .* download it again"):
        cnnzoo.download_weights(TAG, progress=False)


def test_the_cli_says_it_in_one_line(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    entry = CATALOGUE["vgg11.tv_in1k"]
    (home / "weights" / entry.filename).mkdir(parents=True)
    monkeypatch.setenv("CNNZOO_HOME", str(home))
    monkeypatch.setenv("CNNZOO_OFFLINE", "1")
    assert "is a directory, not a file" in cli_error(capsys, ["weights", "download", entry.tag])
