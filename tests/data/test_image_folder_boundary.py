"""An image folder is checked in one place: its class folders by one function (for counting classes,
for training and for ``data samples``), its files by the bounded walk; nothing downstream checks again."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import image_folder

from cnnzoo import data
from cnnzoo.apps import write_samples
from cnnzoo.errors import DataError


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda root: root.mkdir(), "No such file or directory"),
        (lambda root: (root / "train").mkdir(parents=True), "holds no class folders"),
        (lambda root: (root.mkdir(), (root / "train").write_text("not a folder")), "Not a directory"),
    ],
)
def test_a_split_without_class_folders_is_one_line_for_datasets_counts_and_samples(tmp_path, make, why):
    root = tmp_path / "imgs"
    make(root)
    message = rf"image folder {root / 'train'}: {why}; expected class folders of images, DIR/train/<class>/"
    with pytest.raises(DataError, match=message):
        data.imagefolder_dataset(root, "train")
    with pytest.raises(DataError, match=message):
        write_samples(tmp_path / "out", str(root), split="train")
    if (root / "train").is_dir():  # counted before training: the same check
        with pytest.raises(DataError, match=message):
            data.count_classes(str(root))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its permissions")
def test_an_unreadable_split_folder_is_said_to_be_unreadable(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "val").chmod(0)
    try:
        with pytest.raises(DataError, match="val: Permission denied; expected class folders"):
            data.imagefolder_dataset(root, "val")
    finally:
        (root / "val").chmod(0o755)


def test_class_folders_without_images_are_refused_by_the_walk(tmp_path):
    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        (root / "val" / cls).mkdir(parents=True)
        (root / "val" / cls / "notes.txt").write_text("no image")
    with pytest.raises(DataError, match="Found no valid file in its class folders .*; put images in"):
        data.imagefolder_dataset(root, "val")
    with pytest.raises(DataError, match="Found no valid file"):
        write_samples(tmp_path / "out", str(root))


def test_samples_of_an_image_folder_are_the_files_training_reads(tmp_path):
    root = image_folder(tmp_path / "imgs", n=2)
    (root / "val" / "cat" / "notes.txt").write_text("not an image: training leaves it out")
    (root / "val" / "cat" / "more").mkdir()
    (root / "val" / "cat" / "0.jpg").rename(root / "val" / "cat" / "more" / "0.jpg")  # same name as dog/0.jpg
    written = write_samples(tmp_path / "out", str(root), n=10)
    names = sorted(p.relative_to(tmp_path / "out").as_posix() for p in written)
    assert names == ["cat/1.jpg", "cat/more/0.jpg", "dog/0.jpg", "dog/1.jpg"]
    assert (tmp_path / "out/cat/more/0.jpg").read_bytes() == (root / "val/cat/more/0.jpg").read_bytes()


def test_a_split_that_no_data_set_has(tmp_path):
    with pytest.raises(DataError, match="digits has splits 'train' and 'val'"):
        write_samples(tmp_path / "out", "digits", split="test")


def test_an_empty_cifar_batch_is_refused_before_a_loader_is_made(tmp_path):
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (tmp_path / name).write_bytes(pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))
    with pytest.raises(DataError, match=r"data_batch_1: its images are 0 x 3072 uint8"):
        data.build_data(f"cifar10:{tmp_path}", image_size=32, in_chans=3, batch_size=4, workers=0, device="cpu")
    assert Path(tmp_path / "test_batch").is_file()
