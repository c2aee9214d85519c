"""Files out: every file cnnzoo writes goes through cnnzoo.atomic, which writes regular files only
and turns a failed write (full disk, no inodes, read-only file system, a file-size limit) into one
line that says what was kept, with no temporary file left."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnzoo.atomic as atomic_module
from cnnzoo.atomic import TEMP_SUFFIX, atomic_write, output_file
from cnnzoo.errors import CheckpointError, WriteError
from cnnzoo.training.outputs import save_checkpoint

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _cnnzoo(*argv: str, preexec=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "cnnzoo", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        preexec_fn=preexec,
    )


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def _temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def _targets(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real.png").write_bytes(b"the user's file")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    return {"a directory": tmp_path / "folder", "a FIFO": tmp_path / "fifo", "a symbolic link": tmp_path / "link.png"}


def test_the_writer_refuses_every_kind_of_file_but_a_regular_one(tmp_path):
    for kind, target in _targets(tmp_path).items():
        for write in (lambda p: atomic_write(p, b"new"), output_file):
            with pytest.raises(WriteError, match=f"is {kind}; cnnzoo writes only regular files"):
                write(target)
    assert (tmp_path / "real.png").read_bytes() == b"the user's file"  # the link's target is untouched
    assert (tmp_path / "link.png").is_symlink() and stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert _temp_files(tmp_path) == []


@pytest.mark.slow  # starts cnnzoo as a process
def test_a_device_node_is_never_replaced_from_the_cli(tmp_path):
    # a node of our own with /dev/null's numbers: the real /dev/null is never put at risk
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    digits = tmp_path / "digit.png"
    Image.new("L", (32, 32), 255).save(digits)
    for argv in (
        ["export", "--model", "lenet5", "--format", "torchscript", "--output", str(device)],
        ["predict", "--model", "lenet5", str(digits), "--cam", str(device)],
    ):
        line = _one_line(_cnnzoo(*argv))
        assert "is a character device; cnnzoo writes only regular files" in line
        assert stat.S_ISCHR(os.lstat(device).st_mode) and os.lstat(device).st_rdev == os.makedev(1, 3)
    assert _temp_files(tmp_path) == []


@pytest.mark.slow  # starts cnnzoo as a process
def test_a_fifo_as_output_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "out.png")
    digits = tmp_path / "digit.png"
    Image.new("L", (32, 32), 255).save(digits)
    line = _one_line(
        _cnnzoo("predict", "--model", "lenet5", str(digits), "--saliency", str(tmp_path / "out.png"), timeout=60)
    )
    assert "is a FIFO" in line


def _limit_file_size() -> None:  # a real write failure, in torch's own writer: the file-size limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@pytest.mark.slow  # starts cnnzoo as a process
def test_a_real_failed_torch_save_is_one_line_and_keeps_nothing_partial(tmp_path):
    # lenet5's config.yaml fits under the limit, its last.pt (about 250 KB) does not; torch's zip writer
    # turns the failed write into its own RuntimeError ("unexpected pos ..."): recognised by the OSError
    proc = _cnnzoo(
        "train",
        "--epochs",
        "1",
        "--output",
        str(tmp_path / "run"),
        "--quiet",
        "--limit-batches",
        "1",
        "--batch-size",
        "8",
        "--threads",
        "1",
        "--workers",
        "0",
        preexec=_limit_file_size,
    )
    line = _one_line(proc)
    assert "last.pt" in line and os.strerror(errno.EFBIG) in line and "nothing was written" in line
    assert not (tmp_path / "run" / "last.pt").exists() and _temp_files(tmp_path) == []


def test_a_failed_save_over_an_old_checkpoint_keeps_it(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "model_name": "m"}, path)
    for code in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):

        def fail(*args, code=code, **kwargs):  # no inode, a read-only remount, a quota: before a byte is written
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(atomic_module.tempfile, "mkstemp", fail)
        with pytest.raises(CheckpointError, match=f"{os.strerror(code)}; the previous last.pt is kept"):
            save_checkpoint({"model": {"w": torch.zeros(3)}, "model_name": "m"}, path)
        monkeypatch.undo()
    assert torch.load(path, weights_only=True)["model"]["w"].sum() == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.slow  # starts cnnzoo as a process
def test_overlays_of_two_images_with_one_name_are_both_kept(tmp_path):
    for folder, shade in (("a", 0), ("b", 255)):
        (tmp_path / folder).mkdir()
        Image.new("L", (32, 32), shade).save(tmp_path / folder / "x.png")
    proc = _cnnzoo(
        "predict",
        "--model",
        "lenet5",
        str(tmp_path / "a" / "x.png"),
        str(tmp_path / "b" / "x.png"),
        "--cam",
        str(tmp_path / "cam.png"),
    )
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in tmp_path.glob("cam-*.png"))
    assert written == ["cam-x-1.png", "cam-x-2.png"]
    assert (tmp_path / "cam-x-1.png").read_bytes() != (tmp_path / "cam-x-2.png").read_bytes()
