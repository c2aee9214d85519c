"""Weight files and the cache as users get them wrong, each answered by one clear line.

A missing, unreadable, truncated or damaged file, one of another architecture, text, a pickle
that would run code, a file swapped after its hash was checked, a cache folder that cannot be
used, a download cut short. Through the CLI: exit status 2, one line on stderr, no traceback;
through the API: the specific exception class of :mod:`cnnzoo.errors`. Hash mismatches and the
rest of the download path: test_download.py.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import pytest
import torch
from helpers import QUICK, cli_error

import cnnzoo
import cnnzoo.weights.files
from cnnzoo.errors import (
    CheckpointError,
    IncompatibleWeightsError,
    UnknownWeightsError,
    UnsafeCheckpointError,
    WeightsDownloadError,
    WeightsError,
)
from cnnzoo.training.outputs import save_checkpoint
from cnnzoo.weights.catalogue import CATALOGUE


def test_unknown_weight_tag(capsys):
    line = cli_error(capsys, ["predict", "x.png", "--model", "lenet5.nosuch"])
    assert "unknown weight tag 'lenet5.nosuch'" in line and "lenet5.digits" in line
    with pytest.raises(UnknownWeightsError, match="lenet5.digits"):
        cnnzoo.create_model("lenet5.nosuch", pretrained=True)


def test_missing_weights_file(capsys, files, tmp_path):
    missing = tmp_path / "missing.pth"
    line = cli_error(capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(missing)])
    assert "no weights file" in line and "missing.pth" in line
    with pytest.raises(WeightsError, match="no weights file"):
        cnnzoo.create_model("lenet5", pretrained=missing)


def test_unreadable_weights_file_a_directory(capsys, files):
    # root reads any file whatever its mode, so "unreadable" is a path that is no file
    line = cli_error(capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["dir"])])
    assert "adir.pth" in line
    with pytest.raises(WeightsError):
        cnnzoo.create_model("lenet5", pretrained=files["dir"])


def test_weights_of_another_architecture(capsys, files):
    line = cli_error(
        capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["resnet18"])]
    )
    assert "lenet5" in line
    with pytest.raises(IncompatibleWeightsError, match="resnet"):
        cnnzoo.create_model("lenet5", pretrained=files["resnet18"])


def test_truncated_weights_file(capsys, files):
    line = cli_error(
        capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["truncated"])]
    )
    assert "corrupt or truncated" in line
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        cnnzoo.create_model("lenet5", pretrained=files["truncated"])


def test_a_text_file_as_weights(capsys, files):
    # was a bare KeyError(101) from torch's legacy reader, with a traceback (fixed in hub.py)
    line = cli_error(capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["text"])])
    assert "is not a PyTorch weights file" in line
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        cnnzoo.create_model("lenet5", pretrained=files["text"])


def test_weights_needing_unsafe_unpickling(capsys, files):
    line = cli_error(capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["evil"])])
    assert "arbitrary unpickling" in line
    assert "this must never run" not in capsys.readouterr().out
    with pytest.raises(UnsafeCheckpointError, match="arbitrary unpickling"):
        cnnzoo.create_model("lenet5", pretrained=files["evil"])


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda sd: {1: next(iter(sd.values()))}, "key 1 is not a parameter name"),
        (lambda sd: {**sd, "features.c1.weight": sd["features.c1.weight"].to_sparse()}, "sparse"),
        (lambda sd: {"model": sd, "model_name": "lenet5", "extra": object}, None),
    ],
)
def test_weights_files_that_are_not_state_dicts(tmp_path, content, message):
    path = tmp_path / "w.pth"
    sd = cnnzoo.create_model("lenet5").state_dict()
    if message is None:  # a class object needs unpickling: refused before anything else
        torch.save(content(sd), path)
        with pytest.raises(UnsafeCheckpointError):
            cnnzoo.create_model("lenet5", pretrained=path)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice that it validates sparse tensors
        torch.save(content(sd), path)
        with pytest.raises(WeightsError, match=message):
            cnnzoo.create_model("lenet5", pretrained=path)


def _flip_a_bit_in_a_tensor(path: Path) -> None:
    """Flip one bit inside the stored data of a tensor whose values are all 0.5 (uncompressed in
    torch.save's zip): the file stays a valid archive that torch.load reads without complaint."""
    data = bytearray(path.read_bytes())
    run = torch.full((64,), 0.5).numpy().tobytes()
    at = data.find(run)
    assert at > 0
    data[at + 100] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_bit_in_a_weights_file_or_checkpoint_is_refused(capsys, tmp_path):
    weights_file = tmp_path / "w.pth"
    state = cnnzoo.create_model("lenet5").state_dict()
    torch.save({**state, "extra": torch.full((64,), 0.5)}, weights_file)
    _flip_a_bit_in_a_tensor(weights_file)
    torch.load(weights_file, weights_only=True)  # torch itself loads the damaged file silently
    with pytest.raises(CheckpointError, match="CRC-32"):
        cnnzoo.weights.files.read_weights_file(weights_file)
    with pytest.raises(CheckpointError, match="CRC-32"):
        cnnzoo.create_model("lenet5", pretrained=weights_file)
    run = tmp_path / "run" / "last.pt"
    run.parent.mkdir()
    save_checkpoint({"model": {"w": torch.full((64,), 0.5)}, "model_name": "lenet5"}, run)
    _flip_a_bit_in_a_tensor(run)
    line = cli_error(capsys, ["train", "--resume", str(run), *QUICK])
    assert "CRC-32" in line and "corrupt" in line


def test_a_file_swapped_after_its_hash_was_checked_is_not_loaded(monkeypatch):
    """The bytes whose SHA-256 is checked are the bytes loaded: one read, no second open."""
    import dataclasses
    import hashlib

    from cnnzoo.weights import cache

    trusted, other = io.BytesIO(), io.BytesIO()
    torch.save(cnnzoo.create_model("lenet5").state_dict(), trusted)
    torch.save(cnnzoo.create_model("lenet5").state_dict(), other)
    entry = dataclasses.replace(
        CATALOGUE["lenet5.digits"],
        tag="lenet5.cached",
        default=False,
        url="http://127.0.0.1:9/unused.pth",
        filename="lenet5-cached.pth",
        sha256=hashlib.sha256(trusted.getvalue()).hexdigest(),
    )
    monkeypatch.setitem(CATALOGUE, entry.tag, entry)
    path = cache.cached_path(entry)
    path.parent.mkdir(parents=True)
    path.write_bytes(trusted.getvalue())
    verify = cache.verify_digest

    def verify_then_swap(entry_, path_, digest):  # an attacker replaces the file right after the check
        verify(entry_, path_, digest)
        path.write_bytes(other.getvalue())

    monkeypatch.setattr(cache, "verify_digest", verify_then_swap)
    model = cnnzoo.create_model("lenet5.cached")
    expected = torch.load(io.BytesIO(trusted.getvalue()), weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())


def test_a_cache_folder_that_is_a_file(capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("a file, not a folder")
    monkeypatch.setenv("CNNZOO_HOME", str(home))
    monkeypatch.delenv("CNNZOO_OFFLINE", raising=False)
    line = cli_error(capsys, ["weights", "import", "resnet18.tv_in1k", str(tmp_path / "missing.pth")])
    assert "does not exist" in line  # the source is checked first
    source = tmp_path / "r.pth"
    source.write_bytes(b"x")
    line = cli_error(capsys, ["weights", "import", "resnet18.tv_in1k", str(source)])
    assert "SHA-256" in line  # a file that is not the published one is refused before the cache is touched


def test_files_and_folders_a_non_root_user_may_not_read_or_write(capsys, files, tmp_path, monkeypatch):
    # as root (here and in CI) permissions stop nothing, so the refusals the kernel would give are injected
    import errno

    import cnnzoo.reading

    real_open = os.open

    def denied(path, flags, *args, **kwargs):  # the one opener every file read goes through
        if os.fspath(path).endswith(files["lenet5"].name):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(cnnzoo.reading.os, "open", denied)
    line = cli_error(
        capsys, ["predict", str(files["image"]), "--model", "lenet5", "--pretrained", str(files["lenet5"])]
    )
    assert "cannot read" in line and "Permission denied" in line
    monkeypatch.undo()
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a read-only CNNZOO_HOME
    with pytest.raises(WeightsError, match="cannot be used .*not writable.*CNNZOO_HOME"):
        cnnzoo.weights.cache._make_cache_dir()


def test_interrupted_download_keeps_nothing(capsys, monkeypatch):
    from test_download import _Server, add_entry, cache_files  # the local HTTP server of test_download.py

    monkeypatch.delenv("CNNZOO_OFFLINE", raising=False)
    server = _Server()
    try:
        body = (Path(cnnzoo.__file__).parent / "assets").glob("*.pth").__next__().read_bytes()
        add_entry(monkeypatch, server, body, mode="cut", sha256=None, hash_prefix=None)
        line = cli_error(capsys, ["weights", "download", "lenet5.served", "--quiet"])
        assert "was cut after" in line and "try again" in line
        with pytest.raises(WeightsDownloadError):
            cnnzoo.download_weights("lenet5.served", progress=False)
    finally:
        server.close()
    assert cache_files() == []
