"""Refusals of the data API that come from an annotation (``checked``) or from one merged check: a batch
that is not an EncodedBatch given to DecodeImages, a ``bad_images`` that is neither 'error' nor 'skip',
and ``decode`` (cpu; gpu for image folders only) refused in one check whatever is wrong with it."""

from __future__ import annotations

import pytest
import torch
from helpers import random_image_folder

from cnnzoo import data
from cnnzoo.errors import DataError, InvalidArgumentError

CPU = torch.device("cpu")


def test_decode_images_takes_only_an_encoded_batch():
    t = data.DecodeImages(lambda x: x, (0.5,), (0.5,), in_chans=1)
    with pytest.raises(InvalidArgumentError, match=r"DecodeImages: images must be a EncodedBatch, got a uint8 tensor"):
        t(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), CPU)
    with pytest.raises(InvalidArgumentError, match="DecodeImages: channels_last must be True or False, got 'yes'"):
        t(data.EncodedBatch([], torch.zeros(0, dtype=torch.int64)), CPU, "yes")


def test_device_transforms_quote_what_they_got_on_one_line():
    with pytest.raises(DataError, match=r"the loader gives a uint8 tensor of shape \(1, 3, 2, 2\) as images"):
        data.ToDevice()(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), CPU)
    with pytest.raises(DataError, match=r"Normalize takes uint8 images .*, got \[1, 2\]"):
        data.Normalize((0.5,), (0.5,))([1, 2], CPU)


def test_bad_images_is_a_choice_of_its_annotation(tmp_path):
    root = random_image_folder(tmp_path / "imgs", per_class=2)
    with pytest.raises(InvalidArgumentError, match="imagefolder_dataset: bad_images must be 'error' or 'skip'"):
        data.imagefolder_dataset(root, "train", bad_images="ignore")
    common = dict(image_size=8, in_chans=3, batch_size=2, workers=0, device=CPU)
    with pytest.raises(InvalidArgumentError, match="bad_images must be 'error' or 'skip', got 'Skip'"):
        data.build_data(str(root), bad_images="Skip", **common)


@pytest.mark.parametrize("spec, decode", [("digits", "gpu"), ("imgs", "GPU"), ("imgs", "nvjpeg"), ("digits", None)])
def test_decode_is_cpu_or_gpu_for_image_folders_in_one_check(tmp_path, spec, decode):
    root = random_image_folder(tmp_path / "imgs", per_class=2)
    spec = str(root) if spec == "imgs" else spec
    with pytest.raises(DataError, match=r"--decode is cpu, or gpu for the JPEG files of image folders"):
        data.build_data(spec, image_size=8, in_chans=3, batch_size=2, workers=0, device=CPU, decode=decode)


@pytest.mark.parametrize("channels", [2, 4, 0, "3", 3.0, True])
def test_decode_image_and_read_image_take_1_or_3_channels(tmp_path, channels):
    png = data.encode_png(torch.zeros(3, 4, 4, dtype=torch.uint8))
    (tmp_path / "a.png").write_bytes(png)
    with pytest.raises(InvalidArgumentError, match="decode_image: channels must be 1 or 3, got"):
        data.decode_image(png, channels)
    with pytest.raises(InvalidArgumentError, match="decode_image: channels must be 1 or 3, got"):
        data.read_image(tmp_path / "a.png", channels)
    assert data.decode_image(png, 1).shape == (1, 4, 4) and data.read_image(tmp_path / "a.png").shape == (3, 4, 4)


@pytest.mark.parametrize("shape", [(3,), (2, 2), (1, 1, 2, 2), (2, 4, 5, 5)])
def test_normalize_checks_a_batch_once_for_type_and_channels(shape):
    t = data.Normalize((0.5,) * 3, (0.5,) * 3)
    with pytest.raises(DataError, match=r"uint8 images N x C x H x W with C = its 3 normalisation statistics"):
        t(torch.zeros(shape, dtype=torch.uint8), CPU)
    with pytest.raises(DataError, match=r"3 normalisation statistics, got a uint8 tensor of shape"):
        t.normalise(torch.zeros(shape, dtype=torch.uint8))
    assert t(torch.zeros(2, 3, 5, 5, dtype=torch.uint8), CPU, True).is_contiguous(memory_format=torch.channels_last)
