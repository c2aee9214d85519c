"""A run directory the kernel will not let this user write into is refused in one line, where the run
takes its lock: the first file it creates there, so that no separate permission check can disagree with
the kernel (a read-only file system, an ACL, a directory that is not searchable)."""

from __future__ import annotations

import errno
import os

import pytest
from helpers import QUICK, cli_error

import cnnzoo
import cnnzoo.training.outputs
from cnnzoo.errors import OutputDirError


@pytest.fixture
def kernel_refuses_the_lock(monkeypatch):
    """What the kernel says to a non-root user (or to root on a read-only file system): root writes
    anywhere here, so the refusal is injected at the one call that creates a file in the run directory."""
    real_open = os.open
    refusals = {"eacces": errno.EACCES, "erofs": errno.EROFS}

    def install(kind: str) -> None:
        def refuse(path, flags, *args, **kwargs):
            if os.fspath(path).endswith(".lock") and flags & os.O_CREAT:
                code = refusals[kind]
                cls = PermissionError if code == errno.EACCES else OSError
                raise cls(code, os.strerror(code), os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(cnnzoo.training.outputs.os, "open", refuse)

    return install


def test_an_unwritable_run_directory_is_one_line_and_nothing_is_written(capsys, tmp_path, kernel_refuses_the_lock):
    kernel_refuses_the_lock("eacces")
    out = tmp_path / "run"
    line = cli_error(capsys, ["train", "--output", str(out), *QUICK])
    assert f"cannot use {out / '.lock'}: Permission denied; choose another --output" in line
    assert list(out.iterdir()) == []  # no recipe, no checkpoint, no temporary file


def test_a_read_only_file_system_is_one_line_through_the_api(tmp_path, kernel_refuses_the_lock):
    kernel_refuses_the_lock("erofs")
    with pytest.raises(OutputDirError, match=r"cannot use .*lock: Read-only file system; choose another --output"):
        cnnzoo.train(output=str(tmp_path / "run"), verbose=False, limit_batches=1, batch_size=8, threads=1, workers=0)
