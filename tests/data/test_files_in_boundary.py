"""Files in: every file cnnzoo reads is opened once by cnnzoo.reading, which reads regular files only
(a recipe also from a pipe), within a bound known before reading, and never blocks on a FIFO; image
folders are walked with each real directory entered once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnzoo
from cnnzoo.data import imagefolder_dataset, read_image
from cnnzoo.errors import ConfigError, DataError, WeightsError
from cnnzoo.reading import read_bytes, walk_files
from cnnzoo.training.config import load_config

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_special_files_are_refused_unread_and_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")  # endless: read whole, it would fill the memory
    start = time.monotonic()
    for name, says in (
        ("fifo.png", "is a FIFO, not a file"),
        ("folder.png", "is a directory, not a file"),
        ("loop.png", "Too many levels of symbolic links"),
        ("zero.png", "is a character device"),
        ("missing.png", "does not exist"),
    ):
        with pytest.raises(DataError, match=says):
            read_image(tmp_path / name)
    assert time.monotonic() - start < 5  # a FIFO without a writer did not block
    for reader in (lambda p: cnnzoo.create_model("lenet5", pretrained=str(p)), load_config):
        with pytest.raises((WeightsError, ConfigError), match="is a FIFO|is a character device"):
            reader(tmp_path / "fifo.png")


def test_sizes_are_bounded_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(2 << 20)  # 2 MiB of holes: refused from its size, no byte read
    with pytest.raises(ConfigError, match="2,097,152 bytes, over the limit of 1,048,576"):
        load_config(big)
    torch.save(cnnzoo.create_model("lenet5").state_dict(), tmp_path / "w.pth")
    monkeypatch.setenv("CNNZOO_MAX_WEIGHTS_BYTES", "10_000")
    with pytest.raises(WeightsError, match="over the limit of 10,000 .set CNNZOO_MAX_WEIGHTS_BYTES"):
        cnnzoo.create_model("lenet5", pretrained=str(tmp_path / "w.pth"))
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", "100")  # the file bound follows the pixel bound: 16 B a pixel
    with open(tmp_path / "huge.png", "wb") as f:
        f.truncate(2 << 20)
    with pytest.raises(DataError, match="over the limit of 1,050,176 .set CNNZOO_MAX_IMAGE_PIXELS"):
        read_image(tmp_path / "huge.png")
    with pytest.raises(DataError, match="holds more than 10 bytes"):  # a file that grew after its size was read
        read_bytes("/proc/self/status", "status", limit=10, error=DataError)


def test_a_recipe_from_a_pipe_is_read(tmp_path):
    script = "import sys; from cnnzoo.training.config import load_config; print(load_config(sys.argv[1]))"
    shell = f"{sys.executable} -c '{script}' <(printf 'model: lenet5\\nepochs: 3\\n')"
    proc = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "'model': 'lenet5'" in proc.stdout and "'epochs': 3" in proc.stdout


def test_image_folder_walk_skips_fifos_and_enters_a_link_loop_once(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            Image.new("RGB", (8, 8), (200, 0, 0)).save(d / "a.png")
            os.mkfifo(d / "blocks.png")  # read, it would hang the run (SIGTERM does not stop a blocked open)
            (d / "again").symlink_to(d)  # a loop: os.walk(followlinks=True) would enter it 40 levels deep
            (d / "up").symlink_to(tmp_path / split)
    found = list(walk_files(tmp_path / "train" / "cat"))
    assert [f.relative_to(tmp_path / "train" / "cat").as_posix() for f in found] == ["a.png", "up/dog/a.png"]
    ds = imagefolder_dataset(tmp_path, "train")
    assert sorted(Path(p).relative_to(tmp_path).as_posix() for p, _ in ds.samples) == [
        "train/cat/a.png",
        "train/cat/up/dog/a.png",
        "train/dog/a.png",
        "train/dog/up/cat/a.png",
    ]
    assert ds[0][0].shape == (3, 8, 8)


@pytest.mark.slow  # starts cnnzoo as a process
def test_train_on_a_folder_with_a_fifo_finishes(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            d = tmp_path / "data" / split / cls
            d.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (32, 32), (i * 100, 50, 0)).save(d / f"{i}.png")
            os.mkfifo(d / "fifo.jpg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnzoo",
            "train",
            "--model",
            "lenet5",
            "--data",
            str(tmp_path / "data"),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--threads",
            "1",
            "--quiet",
            "--output",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "last.pt").is_file()
