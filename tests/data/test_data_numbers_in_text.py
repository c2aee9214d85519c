"""Numbers that come as text (a ``--data synthetic:N`` spec, a ``CNNZOO_MAX_*`` limit) and image headers
that claim no pixels: refused as one line with a cnnzoo error, never a raw ValueError."""

from __future__ import annotations

import struct
import zlib

import pytest

from cnnzoo.data import decode_image, max_image_pixels, parse_data_spec
from cnnzoo.errors import DataError


@pytest.mark.parametrize("text", ["²", "9" * 5000, "0", "-3", "1e3", "10000000000000"])
def test_synthetic_counts_that_int_cannot_take_or_that_are_too_big(text):
    with pytest.raises(DataError, match="synthetic:N needs a positive number of images, at most 10"):
        parse_data_spec(f"synthetic:{text}")


def test_synthetic_count_in_any_decimal_digits():
    assert parse_data_spec("synthetic:١٢").samples == 12  # Arabic-Indic digits are decimal, int() reads them


@pytest.mark.parametrize("text", ["²", "9" * 5000, "0", "lots"])
def test_a_limit_from_the_environment_that_is_not_a_positive_whole_number(monkeypatch, text):
    monkeypatch.setenv("CNNZOO_MAX_IMAGE_PIXELS", text)
    with pytest.raises(DataError, match="CNNZOO_MAX_IMAGE_PIXELS must be a positive whole number"):
        max_image_pixels()
    with pytest.raises(DataError) as e:
        max_image_pixels()
    assert len(str(e.value)) < 200  # a 5,000-digit value is quoted shortened


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(0, 5), (5, 0)])
def test_a_header_of_no_pixels_is_refused_by_the_decoder(size):
    with pytest.raises(DataError, match="cannot decode zero.png: not an image file that Pillow can identify"):
        decode_image(_png(*size), 3, "zero.png")
