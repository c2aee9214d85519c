"""Checkpoints, resumes, output directories and locks that users get wrong, each one clear line.

Through the CLI: exit status 2, exactly one line on stderr, no traceback, and no file left
half-written; a few run as real processes (a pipe closed early, an output path that is not
UTF-8). Covered elsewhere and not repeated (test_run_safety.py): a new run into a finished run's
directory (refused; ``--overwrite``, ``--resume``), a divergence that shows first in validation,
weights that become inf after the last loss (also at a stop signal), a BatchNorm batch of one,
batches of three items and NaN predictions; ``--log tensorboard`` without the tensorboard
package (test_tensorboard.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import QUICK, cli_error, no_partial_files

import cnnzoo
from cnnzoo import cli
from cnnzoo.errors import CheckpointError, OutputDirError


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory) -> Path:
    """A finished one-epoch lenet5 run (its last.pt and best.pt)."""
    out = tmp_path_factory.mktemp("run") / "lenet5"
    assert cli.main(["train", "--model", "lenet5", "--epochs", "1", "--output", str(out), *QUICK]) == 0
    return out


@pytest.mark.parametrize(
    "which, message",
    [
        ("text", "not a PyTorch checkpoint"),
        ("truncated", "corrupt or truncated"),
        ("evil", "arbitrary unpickling"),
        ("lenet5", "has no 'model'/'model_name' entries"),
        ("missing", "does not exist"),
    ],
)
def test_resume_from_a_bad_file(capsys, files, tmp_path, which, message):
    path = files.get(which, tmp_path / "missing.pt")
    line = cli_error(capsys, ["train", "--resume", str(path), *QUICK])
    assert message in line
    with pytest.raises(CheckpointError, match=message):
        cnnzoo.train(resume=path, verbose=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.pop("config"), "lacks config"),
        (lambda c: c.update(epoch="three"), "'epoch' is not an integer"),
        (lambda c: c.update(rng={"torch": 1}), "'rng' is not the random-number-generator states"),
        (lambda c: c.update(history=["not a row"]), "'history' is not a list of rows"),
        (lambda c: c.update(partial=[1.0]), "'partial' is not null or the epoch's sums so far"),
        (lambda c: c.update(model={"w": "not a tensor"}), "'model' is not a state dict"),
    ],
)
def test_crafted_checkpoints_are_refused_when_read(capsys, lenet_run, tmp_path, change, message):
    state = torch.load(lenet_run / "last.pt", weights_only=True)
    change(state)
    crafted = tmp_path / "last.pt"
    torch.save(state, crafted)
    line = cli_error(capsys, ["train", "--resume", str(crafted), *QUICK])
    assert message in line and "not a usable cnnzoo checkpoint" in line


def test_resume_of_another_models_checkpoint(capsys, lenet_run, tmp_path):
    line = cli_error(capsys, ["train", "--resume", str(lenet_run / "last.pt"), "--model", "alexnet", *QUICK])
    assert "'lenet5'" in line and "'alexnet'" in line and "--model lenet5" in line
    line = cli_error(capsys, ["eval", "--checkpoint", str(lenet_run / "last.pt"), "--model", "resnet18"])
    assert "'lenet5'" in line
    no_partial_files(lenet_run)


def test_resume_of_a_weights_only_best_checkpoint(capsys, lenet_run):
    line = cli_error(capsys, ["train", "--resume", str(lenet_run / "best.pt"), *QUICK])
    assert "weights only" in line and "last.pt" in line


def test_eval_options_are_checked(capsys, lenet_run):
    for option, value in (("--limit-batches", "0"), ("--batch-size", "-1"), ("--workers", "100000")):
        line = cli_error(capsys, ["eval", "--checkpoint", str(lenet_run / "best.pt"), option, value])
        assert option[2:].replace("-", "_") in line


def test_a_failed_torch_save_and_a_full_disk_at_start(capsys, tmp_path, monkeypatch):
    import errno
    import io

    import cnnzoo.atomic as atomic_module

    real_open = open

    class FullDisk(io.RawIOBase):  # a disk that fills up while torch.save writes
        def writable(self):
            return True

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def opener(path, mode="r", *args, **kwargs):  # torch's zip writer swallows the OSError, raises its own
        if ".pt." in str(path) and "w" in mode:
            return io.BufferedWriter(FullDisk(), 100)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(atomic_module, "open", opener, raising=False)
    line = cli_error(capsys, ["train", "--epochs", "1", "--output", str(tmp_path / "a"), *QUICK])
    assert "cannot write" in line and "No space left on device" in line and "is kept" not in line
    monkeypatch.undo()

    def disk_full(*args, **kwargs):  # no inode left for the temporary file of the first file a run writes
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_module.tempfile, "mkstemp", disk_full)
    line = cli_error(capsys, ["train", "--epochs", "1", "--output", str(tmp_path / "b"), *QUICK])
    assert "No space left on device" in line and "config.yaml" in line
    assert not (tmp_path / "b" / ".lock").exists()


def test_stale_temp_cleanup_keeps_the_users_own_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    mine = [out / ".notes.tmp", out / ".last.pt.backup.tmp", out / "draft.tmp"]
    for f in mine:
        f.write_text("mine")
    assert cli.main(["train", "--epochs", "1", "--output", str(out), *QUICK]) == 0
    assert all(f.read_text() == "mine" for f in mine)


def test_output_that_is_a_file(capsys, files):
    line = cli_error(capsys, ["train", "--output", str(files["afile"]), *QUICK])
    assert "is a file, not a directory" in line
    assert files["afile"].read_text() == "x"


def test_output_that_cannot_be_created(capsys, files):
    # root writes anywhere, so "not writable" is a path below a file (ENOTDIR)
    line = cli_error(capsys, ["train", "--output", str(files["afile"] / "run"), *QUICK])
    assert "one of its parents is a file" in line
    with pytest.raises(OutputDirError):
        cnnzoo.train(output=str(files["afile"] / "run"), verbose=False, limit_batches=1)


def test_output_in_use_by_a_live_run(capsys, tmp_path):
    (tmp_path / ".lock").write_text(f"{os.getppid()}\n")  # a live process other than us
    line = cli_error(capsys, ["train", "--output", str(tmp_path), *QUICK])
    assert "in use by another run" in line and "--output" in line


def test_a_lock_that_is_a_folder(capsys, tmp_path):
    (tmp_path / ".lock").mkdir()
    line = cli_error(capsys, ["train", "--output", str(tmp_path), *QUICK])
    assert "is not cnnzoo's lock file" in line and (tmp_path / ".lock").is_dir()


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_train_piped_into_head_keeps_training(tmp_path):
    out = tmp_path / "run"
    cmd = (
        f"{sys.executable} -m cnnzoo train --epochs 2 --batch-size 64 --threads 1 --output {out} "
        "| head -1; exit ${PIPESTATUS[0]}"
    )
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, timeout=300, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2  # the run went on to its end


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_an_output_path_that_is_not_utf8(tmp_path):
    out = os.path.join(os.fsencode(tmp_path), b"run-\xff")
    proc = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "train", "--epochs", "1", *QUICK, "--output", out],
        capture_output=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert os.path.isfile(os.path.join(out, b"last.pt"))
