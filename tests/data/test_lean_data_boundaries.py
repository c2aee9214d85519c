"""Refusals that now come from one boundary each: the CIFAR batch reader's one handler (a file that
is not a dict of arrays, a ``_codecs.encode`` of anything but text), the one class-folder check of an
image folder (none, or only one), the pixel limit of a header and of a resize, one decode handler."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import image_folder

from cnnzoo import data
from cnnzoo.errors import DataError, InvalidArgumentError


def _encode_call(argument: bytes) -> bytes:
    # protocol 2: _codecs.encode(ARGUMENT, "latin1"), as Python 3 pickles bytes, with ARGUMENT's opcodes given
    return b"\x80\x02c_codecs\nencode\n" + argument + b"X\x06\x00\x00\x00latin1\x86R."


@pytest.mark.parametrize(
    "raw, message",
    [
        (_encode_call(b"K\x05"), "'int' object has no attribute 'encode'"),  # a number, not text
        (_encode_call(b"X\x02\x00\x00\x00\xe2\x82"), "codec can't encode|can't decode"),  # not latin1 text
        (pickle.dumps([1, 2, 3], protocol=2), "'list' object has no attribute 'items'"),
        (pickle.dumps("data", protocol=2), "'str' object has no attribute 'items'"),
    ],
)
def test_a_cifar_file_that_is_not_a_batch_is_one_line_from_the_readers_one_handler(tmp_path, raw, message):
    (tmp_path / "b").write_bytes(raw)
    with pytest.raises(DataError, match=rf"b is not a CIFAR batch \(.*({message}).*\); it was not loaded"):
        data.read_cifar_batch(tmp_path / "b")


def test_text_in_a_batch_is_latin1_bytes_whatever_encoding_the_file_names(tmp_path):
    # protocol 2 pickles every bytes object (keys, pixel buffers) as _codecs.encode(text, "latin1"); a file
    # that names another codec gets the same bytes (str.encode runs no code), so the batch reads as before
    batch = {b"data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), b"labels": [3, 7]}
    raw = pickle.dumps(batch, protocol=2)
    assert b"c_codecs\nencode" in raw and b"latin1" in raw  # the name is written once, then memoised
    (tmp_path / "b").write_bytes(raw.replace(b"latin1", b"utf_16"))
    read = data.read_cifar_batch(tmp_path / "b", num_classes=10)
    assert np.array_equal(read["data"], batch[b"data"]) and read["labels"].tolist() == [3, 7]


def test_an_image_folder_of_one_class_is_refused_by_every_reader_of_it(tmp_path):
    root = image_folder(tmp_path / "one", classes=("cat",))
    for call in (
        lambda: data.count_classes(str(root)),
        lambda: data.imagefolder_dataset(root, "train"),
        lambda: data.imagefolder_dataset(root, "val"),
    ):
        with pytest.raises(DataError, match="holds only one class folder; a classifier needs at least 2"):
            call()


@pytest.mark.parametrize("spec", [None, 3, b"digits", ["digits"]])
def test_a_data_spec_that_is_not_text_is_refused_by_its_annotation(spec):
    with pytest.raises(InvalidArgumentError, match=r"parse_data_spec: spec must be a string, got"):
        data.parse_data_spec(spec)


def test_a_split_without_a_usable_image_is_refused_once_whether_empty_or_all_undecodable(tmp_path):
    root = image_folder(tmp_path / "pets", classes=("cat", "dog"))
    for image in (root / "val").rglob("*.*"):
        image.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"val: Found no valid file in its class folders \([1-9]\d* that cannot be"):
        data.imagefolder_dataset(root, "val", bad_images="skip")
    for image in (root / "val").rglob("*.*"):
        image.rename(image.with_suffix(".txt"))
    with pytest.raises(DataError, match=r"val: Found no valid file in its class folders \(0 that cannot be decoded"):
        data.imagefolder_dataset(root, "val")
    assert len(data.imagefolder_dataset(root, "train", bad_images="skip")) > 0
