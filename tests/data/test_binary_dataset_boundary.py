"""MNIST's IDX files and CIFAR's batches cross two boundaries: cnnzoo.reading opens the file (regular
files only, within a bound known before reading, a FIFO never waited on), and one shape-and-label check
(``sources._labelled``) tests what the file held, for both formats, with one kind of message."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from cnnzoo import data
from cnnzoo.data import sources
from cnnzoo.errors import DataError


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()


def _mnist(root, images: np.ndarray, labels: np.ndarray) -> None:
    (root / "train-images-idx3-ubyte").write_bytes(_idx(images))
    (root / "train-labels-idx1-ubyte").write_bytes(_idx(labels))


def _cifar(path, batch: object) -> None:
    path.write_bytes(pickle.dumps(batch, protocol=2))


def test_idx_and_cifar_files_that_are_fifos_or_folders_are_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "train-images-idx3-ubyte")  # read whole, it would wait for a writer forever
    (tmp_path / "train-labels-idx1-ubyte").mkdir()
    with pytest.raises(DataError, match="IDX file .*train-images-idx3-ubyte is a FIFO, not a file"):
        data.read_idx(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(DataError, match="IDX file .*train-labels-idx1-ubyte is a directory"):
        data.read_idx(tmp_path / "train-labels-idx1-ubyte")
    os.mkfifo(tmp_path / "data_batch_1")
    with pytest.raises(DataError, match="CIFAR batch .*data_batch_1 is a FIFO"):
        data.read_cifar_batch(tmp_path / "data_batch_1")


def test_a_file_over_the_bound_is_refused_before_reading_and_a_gzip_bomb_before_inflating(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MAX_DATA_FILE_BYTES", 4096)
    big = tmp_path / "big"
    big.write_bytes(_idx(np.zeros((8, 28, 28), np.uint8)))  # 6,288 bytes
    with pytest.raises(DataError, match="is 6,288 bytes, over the limit of 4,096"):
        data.read_idx(big)
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(gzip.compress(_idx(np.zeros((1000, 28, 28), np.uint8))))  # ~1 KB that inflates to 784 KB
    assert bomb.stat().st_size < 4096
    with pytest.raises(DataError, match=r"IDX header says \[1000, 28, 28\] \(784,016 bytes\) but the file holds 4,097"):
        data.read_idx(bomb)


def test_damaged_or_truncated_gzip_idx(tmp_path):
    packed = gzip.compress(_idx(np.random.default_rng(0).integers(0, 256, (4, 28, 28), np.uint8)))
    (tmp_path / "damaged.gz").write_bytes(packed[:10] + b"\xff" * 20 + packed[30:])
    with pytest.raises(DataError, match="damaged.gz: its gzip data is damaged"):
        data.read_idx(tmp_path / "damaged.gz")
    (tmp_path / "short.gz").write_bytes(packed[: len(packed) // 2])  # a download cut off
    with pytest.raises(DataError, match="but the file holds"):
        data.read_idx(tmp_path / "short.gz")
    (tmp_path / "empty.gz").write_bytes(packed[:12])  # nothing inflated yet
    with pytest.raises(DataError, match="empty.gz is not an IDX file .magic number missing, 0 bytes in all"):
        data.read_idx(tmp_path / "empty.gz")


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((3, 28, 28), np.uint8), np.array([1, 2], np.uint8), "expected 3 labels, one per image, got 2"),
        (np.zeros((2, 28, 28), np.uint8), np.array([[1], [2]], np.uint8), r"label \[1\] \(entry 0\) is not a digit"),
        (np.zeros((2, 28, 28), np.uint8), np.array([1, 10], np.uint8), r"label 10 \(entry 1\) is not a digit, outside"),
        (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "its images are 0 x 28 x 28 uint8; expected"),
        (np.zeros((2, 784), np.uint8), np.array([1, 2], np.uint8), "expected uint8 images N x . x ."),
    ],
)
def test_mnist_files_that_do_not_fit_together(tmp_path, images, labels, message):
    _mnist(tmp_path, images, labels)
    with pytest.raises(DataError, match=message):
        data.mnist_dataset(tmp_path, "train")


def test_mnist_float_labels_that_are_whole_numbers_are_labels(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((2, 28, 28), np.uint8)))
    labels = np.array([3.0, 7.0], ">f4")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 2) + labels.tobytes())
    ds = data.mnist_dataset(tmp_path, "train")
    assert ds.labels.tolist() == [3, 7] and str(ds.labels.dtype) == "torch.int64"


@pytest.mark.parametrize(
    "labels, message",
    [
        (["cat", "dog"], r"label 'cat' \(entry 0\) is not a class"),  # was a raw ValueError
        ([[0, 1], [2]], r"label \[0, 1\] \(entry 0\) is not a class"),  # ragged: was a raw ValueError
        (None, "expected 2 labels, one per image, got None"),
        ([0, 100], r"label 100 \(entry 1\) is not a class, outside 0..99"),
    ],
)
def test_cifar_batch_labels_of_the_wrong_kind(tmp_path, labels, message):
    _cifar(tmp_path / "b", {b"data": np.zeros((2, 3072), np.uint8), b"labels": labels})
    with pytest.raises(DataError, match=message):
        data.read_cifar_batch(tmp_path / "b")


def test_cifar_batch_data_that_is_not_an_array(tmp_path):
    _cifar(tmp_path / "b", {b"data": [1, 2, 3], b"labels": [0]})
    with pytest.raises(DataError, match="its images are a list, not an array; expected uint8 images N x 3072"):
        data.read_cifar_batch(tmp_path / "b")


def test_cifar_batch_checked_against_the_class_count_asked_for(tmp_path):
    _cifar(tmp_path / "b", {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 42]})
    assert data.read_cifar_batch(tmp_path / "b")["labels"].tolist() == [0, 42]  # CIFAR-100 by default
    with pytest.raises(DataError, match=r"label 42 \(entry 1\) is not a class, outside 0..9"):
        data.read_cifar_batch(tmp_path / "b", num_classes=10)


@pytest.mark.parametrize(
    "call",
    [
        lambda root: data.mnist_dataset(root, "test"),
        lambda root: data.cifar_dataset(root, "test"),
        lambda root: data.cifar_dataset(root, "train", num_classes=7),
        lambda root: data.digits_dataset("test"),
    ],
)
def test_one_split_check_for_every_data_set(tmp_path, call):
    with pytest.raises(DataError, match=r"has splits 'train' and 'val' \(CIFAR: 10 or 100 classes\), got split"):
        call(tmp_path)


def test_mnist_files_are_found_in_any_of_their_spellings_and_folders(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images.idx3-ubyte.gz").write_bytes(gzip.compress(_idx(np.zeros((2, 28, 28), np.uint8))))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.array([4, 2], np.uint8)))
    assert data.mnist_dataset(tmp_path, "val").labels.tolist() == [4, 2]
    message = (
        rf"MNIST train files train-images-idx3-ubyte, train-labels-idx1-ubyte not found in {tmp_path} or "
        rf"{tmp_path}/raw or {raw}; no MNIST data there"
    )
    with pytest.raises(DataError, match=message):
        data.mnist_dataset(tmp_path, "train")


def test_cifar_files_are_found_in_the_archive_folder_or_beside_it_and_the_missing_named(tmp_path):
    _cifar(tmp_path / "test", {b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [99]})
    (tmp_path / "cifar-100-python").mkdir()
    _cifar(tmp_path / "cifar-100-python" / "train", {b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [5]})
    assert data.cifar_dataset(tmp_path, "val", num_classes=100).labels.tolist() == [99]
    assert data.cifar_dataset(tmp_path, "train", num_classes=100).labels.tolist() == [5]
    with pytest.raises(
        DataError, match=r"CIFAR-10 files data_batch_1, .*data_batch_5 not found in .*cifar-10-batches-py"
    ):
        data.cifar_dataset(tmp_path, "train", num_classes=10)
