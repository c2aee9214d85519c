"""The run directory's one opener (open_run_directory): whatever fails once the lock is taken (the
kernel, a previous run's results, Ctrl-C) leaves no lock behind, and the kernel's refusal is one line."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from cnnzoo.errors import OutputDirError
from cnnzoo.training import guards
from cnnzoo.training.distributed import DistInfo


def _open(path, fresh=True, overwrite=False):
    return guards.open_run_directory(
        path, "m", fresh=fresh, overwrite=overwrite, dist_info=DistInfo(), device=torch.device("cpu")
    )


@pytest.mark.parametrize(
    "failure, error",
    [
        (OSError(errno.EIO, os.strerror(errno.EIO), "x.tmp"), OutputDirError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
    ids=["kernel", "ctrl-c"],
)
def test_a_failure_after_the_lock_releases_it(tmp_path, monkeypatch, failure, error):
    def fail(directory):
        assert (directory / ".lock").read_text().strip() == str(os.getpid())  # taken by then
        raise failure

    monkeypatch.setattr(guards, "remove_stale_temp_files", fail)
    with pytest.raises(
        error,
        match="cannot use x.tmp: Input/output error; choose another --output" if error is OutputDirError else None,
    ):
        _open(tmp_path / "run")
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_refused_previous_run_releases_the_lock_and_a_later_open_succeeds(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"x")
    with pytest.raises(OutputDirError, match="previous run"):
        _open(tmp_path)
    assert not (tmp_path / ".lock").exists()
    run = _open(tmp_path, fresh=False)
    assert run is not None and (tmp_path / ".lock").exists()
    run.__exit__(None, None, None)
    assert not (tmp_path / ".lock").exists()
