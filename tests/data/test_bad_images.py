"""Damaged images are reported, never fatal.

Each damaged file of scripts/make_bad_images.py goes through :func:`cnnzoo.data.decode_image`,
:func:`cnnzoo.data.read_image`, an image folder (stopping, and with ``bad_images="skip"``) and
``cnnzoo predict``, through both decoder paths (TorchCodec where installed, Pillow otherwise).
The short IDAT case crashed the process (SIGSEGV in torchvision's libpng), so it also runs
as a real process. Also: the pixel limit, animated GIFs, no deprecation warning, MNIST labels
that are not digits, and a CIFAR pickle asking for a 16 TiB bytearray.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import cli_error
from PIL import Image

import cnnzoo
from cnnzoo import data
from cnnzoo.data import decode
from cnnzoo.errors import DataError

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_bad_images.py"
_spec = importlib.util.spec_from_file_location("make_bad_images", _SCRIPT)
assert _spec is not None and _spec.loader is not None
bad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad)

#: What each decoder path says about each damaged case (a fragment of the one line).
MESSAGES: dict[str, dict[str, str]] = {
    "short IDAT": {"torchcodec": "Not enough image data", "pillow": "image file is truncated"},
    "60000x60000 header": {"*": "header claims 60000x60000 = 3,600,000,000 pixels, over the limit of 89,478,485"},
    "16000x16000 bomb": {"*": "header claims 16000x16000 = 256,000,000 pixels"},
    "truncated JPEG": {"torchcodec": "Image is incomplete or truncated.", "pillow": "image file is truncated"},
    "zero bytes": {"*": "the file is empty (0 bytes)"},
    "text as .jpg": {"*": "not an image file that Pillow can identify"},
}


def _message(case: str, path: str) -> str:
    return MESSAGES[case].get(path, MESSAGES[case].get("*", ""))


@pytest.fixture(params=["torchcodec", "pillow"])
def path(request, monkeypatch) -> str:
    """Run the test through one decoder path (TorchCodec's is skipped where it is not installed)."""
    if request.param == "pillow":
        monkeypatch.setattr(decode, "_torchcodec", lambda: None)
    elif decode._torchcodec() is None:
        pytest.skip("torchcodec is not installed (pip install cnnzoo[decode])")
    assert decode.decoder() == request.param
    return request.param


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    return bad.write_all(tmp_path_factory.mktemp("damaged"))


@pytest.mark.parametrize("case", list(bad.CASES))
def test_each_damaged_file_is_one_clear_line(case, path, damaged):
    raw = damaged[case].read_bytes()
    with pytest.raises(DataError) as info:
        data.decode_image(raw, 3, "image x.png")
    line = str(info.value)
    assert line.startswith(("cannot decode image x.png: ", "refusing to decode image x.png: ")), line
    assert _message(case, path) in line and "\n" not in line and ".cpp" not in line
    with pytest.raises(DataError, match=str(damaged[case]).replace(".", r"\.")) as info:
        data.read_image(damaged[case], 1)
    assert _message(case, path) in str(info.value)


def test_decoded_pixels_are_the_same_on_both_paths(path):
    pixels = bad.photo(50, 40)
    for fmt, kwargs in (("PNG", {}), ("JPEG", {"quality": 95}), ("WEBP", {"lossless": True})):
        raw = bad.encoded(pixels, fmt, **kwargs)
        reference = np.array(Image.open(io.BytesIO(raw)).convert("RGB"))  # lossless: the pixels themselves
        x = data.decode_image(raw, 3)
        assert x.dtype == torch.uint8 and x.shape == (3, 40, 50)
        diff = (x.permute(1, 2, 0).int() - torch.from_numpy(reference).int()).abs().float().mean()
        assert diff < 1, (fmt, diff)  # JPEG: the IDCTs of libjpeg-turbo builds may differ by a level
        assert data.decode_image(raw, 1).shape == (1, 40, 50)
    assert (data.decode_image(bad.encoded(pixels, "PNG")).permute(1, 2, 0).numpy() == pixels).all()


def test_an_animated_gif_gives_its_first_frame(path, damaged):
    x = data.read_image(damaged["animated GIF"])
    assert x.shape == (3, 30, 40)
    assert x[0].float().mean() > 200 and x[1:].float().mean() < 30  # red


def test_the_pixel_limit_comes_from_the_environment(path, monkeypatch):
    png = bad.encoded(bad.photo(64, 48), "PNG")
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", "3000")
    with pytest.raises(DataError, match=r"64x48 = 3,072 pixels, over the limit of 3,000 \(set CNNZOO_MAX_IMAGE"):
        data.decode_image(png)
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", "3072")
    assert data.max_image_pixels() == 3072 and data.decode_image(png).shape == (3, 48, 64)
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(DataError, match="CNNZOO_MAX_IMAGE_PIXELS must be a positive whole number"):
        data.decode_image(png)
    # above Pillow's own limit (2 x 89,478,485 raises in Pillow): ours applies, not Pillow's
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", str(10**10))
    with pytest.raises(DataError, match="not an image file"):  # got past the header check to the format check
        data.decode_image(b"GIF89a" + b"\x00" * 4)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's global put back


def test_no_deprecation_warning_when_decoding(path, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.decode_image(bad.encoded(bad.photo(32, 32), "JPEG"))
        data.decode_image(bad.encoded(bad.photo(32, 32), "PNG"))


@pytest.mark.parametrize("channels", [1, 3])
def test_encode_png_round_trips_without_torchvision_io(path, channels):
    image = torch.randint(0, 256, (channels, 7, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchvision.io's encoder would warn that it is deprecated
        png = data.encode_png(image)
        assert png.startswith(b"\x89PNG") and torch.equal(data.decode_image(png, channels), image)
    with pytest.raises(DataError, match="uint8 tensor of 1 or 3"):
        data.encode_png(image.float())


# ---------------------------------------------------------------- image folders and predict
def _folder(root: Path, damaged: dict[str, Path]) -> Path:
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20, 20), (90 * c, 20 * i, 0)).save(root / split / name / f"{i}.jpg")
    for case, p in damaged.items():
        if case in bad.CASES:
            (root / "train" / "cat" / p.name).write_bytes(p.read_bytes())
    return root


def test_an_image_folder_stops_at_or_skips_each_damaged_file(path, damaged, tmp_path):
    root = _folder(tmp_path / "imgs", damaged)
    ds = data.imagefolder_dataset(root, "train")
    bad_items = [i for i, (p, _) in enumerate(ds.samples) if Path(p).name in {d.name for d in damaged.values()}]
    assert len(bad_items) == len(bad.CASES)
    for i in bad_items:
        with pytest.raises(DataError, match="--bad-images skip") as info:
            ds[i]
        assert "\n" not in str(info.value) and Path(ds.samples[i][0]).name in str(info.value)
    skipping = data.imagefolder_dataset(root, "train", bad_images="skip")
    assert len(skipping) == 6 and sorted(Path(p).name for p in skipping.skipped) == sorted(
        damaged[c].name for c in bad.CASES
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert skipping[0][0].shape == (3, 20, 20)


@pytest.mark.parametrize("case", list(bad.CASES))
def test_predict_reports_each_damaged_file(capsys, case, damaged):
    line = cli_error(capsys, ["predict", str(damaged[case]), "--model", "lenet5"])
    assert damaged[case].name in line and _message(case, decode.decoder()) in line


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_the_short_idat_that_crashed_is_one_line_in_a_real_process(damaged, tmp_path):
    src = str(Path(cnnzoo.__file__).resolve().parent.parent)  # this checkout's cnnzoo, not an installed one
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-m",
            "cnnzoo",
            "predict",
            str(damaged["short IDAT"]),
            "--model",
            "lenet5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr)  # not -11 (SIGSEGV)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnzoo predict: error: cannot decode image "), proc.stderr


# ---------------------------------------------------------------- MNIST and CIFAR
def _idx(array: np.ndarray, code: int) -> bytes:
    return (
        bytes([0, 0, code, array.ndim])
        + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        + array.astype(array.dtype.newbyteorder(">")).tobytes()
    )


@pytest.mark.parametrize(
    "images, labels, code, message",
    [
        (np.zeros((2, 28, 28), np.uint8), np.array([1, -3], np.int8), 0x09, "label -3 (entry 1) is not a digit"),
        (np.zeros((2, 28, 28), np.uint8), np.array([np.nan, 1], np.float32), 0x0D, "label nan (entry 0) is not"),
        (np.zeros((2, 0, 28), np.uint8), np.array([1, 2], np.uint8), 0x08, "images are 2 x 0 x 28 uint8"),
    ],
)
def test_mnist_labels_that_are_not_digits_and_empty_images(tmp_path, images, labels, code, message):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images, 0x08)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(labels, code))
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.mnist_dataset(tmp_path, "train")


class _Bomb:
    def __reduce__(self) -> tuple[Any, ...]:
        return bytearray, (2**44,)


@pytest.mark.parametrize("protocol", [2, 4])  # protocol 2 names it __builtin__.bytearray
def test_a_cifar_batch_asking_for_a_16_tib_bytearray(tmp_path, protocol):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Bomb(), b"labels": [0]}, protocol=protocol))
    with pytest.raises(DataError, match="refusing a bytearray of 17,592,186,044,416 bytes"):
        data.read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [3]}, protocol=protocol))
    assert data.read_cifar_batch(path)["labels"].tolist() == [3]
