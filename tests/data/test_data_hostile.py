"""Data that is not what it claims, each answered by one clear line when a run starts.

Missing directories, image folders without images or classes, corrupt JPEGs (stopping, or
skipped and counted with ``--bad-images skip``), CIFAR files that are not CIFAR batches.
Through the CLI: exit status 2, one line on stderr, no traceback, nothing half-written.
Covered elsewhere and not repeated: bad IDX files
(test_data.py::test_idx_reader_rejects_bad_files), a crafted CIFAR pickle that would run code
(test_data.py::test_cifar_reader_never_runs_code_from_a_crafted_file), bad ``--data`` specs
(test_data.py::test_bad_specs), and each damaged image file (short IDAT, 60000x60000 header,
16000x16000 bomb, truncated JPEG, zero bytes, text named .jpg) through decode_image,
read_image, image folders, predict and both decoder paths (test_bad_images.py, with MNIST
labels that are not digits and a CIFAR bytearray bomb).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import QUICK, cli_error, image_folder, no_partial_files

from cnnzoo import cli, data
from cnnzoo.errors import DataError, InvalidArgumentError


def test_missing_data_directory(capsys, tmp_path):
    line = cli_error(capsys, ["train", "--data", str(tmp_path / "nowhere"), *QUICK])
    assert "is not a directory" in line
    line = cli_error(capsys, ["train", "--data", f"cifar10:{tmp_path / 'nowhere'}", *QUICK])
    assert "is not a directory" in line
    with pytest.raises(DataError):
        data.parse_data_spec(f"mnist:{tmp_path / 'nowhere'}")


def test_image_folder_without_images(capsys, tmp_path):
    for split in ("train", "val"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
    (tmp_path / "train" / "a" / "readme.txt").write_text("no images here")
    line = cli_error(capsys, ["train", "--data", str(tmp_path), "--output", str(tmp_path / "run"), *QUICK])
    assert "Found no valid file" in line
    assert not (tmp_path / "run").exists()


def test_image_folder_without_class_folders(capsys, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    line = cli_error(capsys, ["train", "--data", str(tmp_path), *QUICK])
    assert "expected class folders" in line


def test_image_folder_with_one_class(capsys, tmp_path):
    # trained to exit 0 before (a "classifier" of one class learns nothing); now refused
    root = image_folder(tmp_path / "one", classes=("cat",))
    line = cli_error(capsys, ["train", "--data", str(root), "--output", str(tmp_path / "run"), *QUICK])
    assert "only one class folder" in line and "at least 2" in line
    with pytest.raises(DataError, match="only one class"):
        data.count_classes(str(root))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_corrupt_jpeg_is_a_clear_error_by_default(capsys, corrupt_folder, tmp_path, workers):
    # workers=1: the error crosses a DataLoader worker, which used to wrap it in the
    # worker's traceback (cnnzoo.errors.CnnzooError now gives back the original line)
    args = [
        "train",
        "--data",
        str(corrupt_folder),
        "--model",
        "lenet5",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--output",
        str(tmp_path / "run"),
        "--quiet",
        "--threads",
        "1",
        "--workers",
        workers,
    ]
    line = cli_error(capsys, args)
    assert "cannot decode image" in line and ".jpg" in line and "--bad-images skip" in line
    assert "Original Traceback" not in line
    no_partial_files(tmp_path / "run")


@pytest.mark.slow  # two whole training runs
def test_corrupt_jpegs_are_skipped_and_counted_by_option(capsys, corrupt_folder, tmp_path):
    args = [
        "train",
        "--data",
        str(corrupt_folder),
        "--model",
        "lenet5",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--output",
        str(tmp_path / "run"),
        "--threads",
        "1",
        "--workers",
        "0",
        "--bad-images",
        "skip",
        "--quiet",
    ]
    assert cli.main(args) == 0
    err = capsys.readouterr().err  # said on stderr, even with --quiet: data was left out
    assert "warning: skipped 2 unreadable images" in err and "left out" in err
    ds = data.imagefolder_dataset(corrupt_folder, "train", bad_images="skip")
    assert len(ds) == 15 and [Path(p).name for p in ds.skipped] == ["0.jpg"]
    with pytest.raises(InvalidArgumentError, match="bad_images must be .error. or .skip."):
        data.imagefolder_dataset(corrupt_folder, "train", bad_images="ignore")


def _cifar_dir(root: Path, batch: object) -> Path:
    root.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    return root


@pytest.mark.parametrize(
    "batch, message",
    [
        ({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, "N x 3072"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1]}, "expected 4 labels"),
        (["not", "a", "dict"], "not a CIFAR batch"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 99]}, "outside 0..9"),
    ],
)
def test_cifar_batches_that_are_not_what_they_claim(capsys, tmp_path, batch, message):
    root = _cifar_dir(tmp_path / "cifar", batch)
    line = cli_error(capsys, ["train", "--data", f"cifar10:{root}", *QUICK])
    assert message in line
    with pytest.raises(DataError, match=message):
        data.cifar_dataset(root, "train")


def test_cifar_file_that_is_not_a_pickle(capsys, tmp_path):
    root = _cifar_dir(tmp_path / "cifar", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    (root / "data_batch_1").write_text("<html>404 Not Found</html>")  # a saved error page
    line = cli_error(capsys, ["train", "--data", f"cifar10:{root}", *QUICK])
    assert "data_batch_" in line and "CIFAR batch" in line


def test_train_on_a_folder_with_a_short_idat_png_stops_with_one_line_and_no_lock(capsys, tmp_path):
    from test_bad_images import bad

    root = image_folder(tmp_path / "imgs")
    (root / "train" / "cat" / "short.png").write_bytes(bad.short_idat())  # a SIGSEGV in torchvision.io's libpng
    run = tmp_path / "run"
    line = cli_error(
        capsys,
        [
            "train",
            "--data",
            str(root),
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--output",
            str(run),
            "--quiet",
            "--threads",
            "1",
            "--workers",
            "0",
        ],
    )
    assert "short.png" in line and ("Not enough image data" in line or "image file is truncated" in line)
    assert not (run / ".lock").exists()
    no_partial_files(run)
