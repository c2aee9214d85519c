"""Images: 16-bit and float images by their range, EXIF orientation applied by both decoders, and the
pixel limit covering the resized image as well as the decoded one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import cnnzoo.data.decode as decode
from cnnzoo.apps.predict import preprocess
from cnnzoo.data import read_image
from cnnzoo.data.transforms import build_transforms
from cnnzoo.errors import DataError, InvalidArgumentError

DECODERS = ["default", "pillow"]


@pytest.fixture(params=DECODERS)
def decoder(request, monkeypatch):
    if request.param == "pillow":  # what a machine without TorchCodec decodes with
        monkeypatch.setattr(decode, "_torchcodec", lambda: None)
    return request.param


def test_16_bit_and_float_images_keep_their_range(tmp_path, decoder):
    Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "float.tif")
    Image.fromarray(np.array([[0.0, 127.6, 300.0]], dtype=np.float32)).save(tmp_path / "float255.tif")
    assert read_image(tmp_path / "deep.png", 1).flatten().tolist() == [0, 128, 255]  # not clipped to white
    assert read_image(tmp_path / "float.tif", 3)[:, 0].tolist() == [[0, 128, 255]] * 3  # not black
    assert read_image(tmp_path / "float255.tif", 1).flatten().tolist() == [0, 128, 255]


def test_exif_orientation_is_applied_by_either_decoder(tmp_path, decoder):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert read_image(tmp_path / "phone.jpg").shape == (3, 40, 20)  # upright: 20 wide, 40 high


def test_the_pixel_limit_covers_the_resized_image(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", "100_000")
    strip = torch.zeros(3, 1, 20_000, dtype=torch.uint8)  # 20,000 pixels decoded: under the limit
    evaluate = build_transforms("imagefolder", False, image_size=224, in_chans=3)
    with pytest.raises(DataError, match="to 5120000x256 = 1,310,720,000 pixels, over the limit of 100,000"):
        evaluate(strip)
    assert evaluate(torch.zeros(3, 300, 400, dtype=torch.uint8)).shape == (3, 224, 224)
    Image.new("RGB", (20_000, 1)).save(tmp_path / "strip.png")
    cfg = {"input_size": (3, 224, 224), "resize_size": 256, "mean": (0.5,) * 3, "std": (0.5,) * 3}
    with pytest.raises(DataError, match="refusing to resize image .*strip.png"):
        preprocess(tmp_path / "strip.png", cfg)
    with pytest.raises(InvalidArgumentError, match="input_size must be a whole number from 1 to 8,192"):
        preprocess(tmp_path / "strip.png", {**cfg, "input_size": (3, 10**6, 10**6)})  # a crafted config


def test_a_directory_given_as_an_image_is_called_one(tmp_path):
    with pytest.raises(DataError, match="is a directory, not a file"):
        preprocess(tmp_path, {"input_size": (3, 224, 224), "mean": (0.5,) * 3, "std": (0.5,) * 3})
