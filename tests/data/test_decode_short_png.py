"""A PNG whose image data ends before the rows its header claims is refused by either decoder (Pillow
fills the missing rows with zeros without a word); whole PNGs, interlaced or 16-bit RGB, decode as before."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import cnnzoo.data.decode as decode
from cnnzoo.data import decode_image, read_image
from cnnzoo.errors import DataError


@pytest.fixture(params=["default", "pillow"])
def decoder(request, monkeypatch):
    if request.param == "pillow":  # what a machine without TorchCodec decodes with
        monkeypatch.setattr(decode, "_torchcodec", lambda: None)
    return request.param


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, rows: int, depth: int = 8, colour: int = 0, split: int = 1) -> bytes:
    """A PNG whose header says ``width x height`` and whose (complete) zlib stream holds ``rows`` rows,
    spread over ``split`` IDAT chunks."""
    channels = {0: 1, 2: 3}[colour]
    row = b"\x00" + bytes(range(256)) * (width * channels * depth // 8 // 256 + 1)
    row = row[: 1 + width * channels * depth // 8]
    packed = zlib.compress(row * rows)
    step = -(-len(packed) // split)
    idat = b"".join(_chunk(b"IDAT", packed[i : i + step]) for i in range(0, len(packed), step))
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + idat + _chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("rows", "depth", "colour", "split"), [(3, 8, 0, 1), (0, 8, 0, 1), (15, 8, 2, 3), (10, 16, 2, 2), (15, 16, 0, 1)]
)
def test_image_data_ending_early_is_refused(tmp_path, decoder, rows, depth, colour, split):
    path = tmp_path / "short.png"
    path.write_bytes(_png(16, 16, rows, depth, colour, split))
    with pytest.raises(DataError, match=f"image {path}") as caught:
        read_image(path)
    assert "\n" not in str(caught.value)


def test_the_same_png_with_every_row_decodes(decoder):
    whole = decode_image(_png(16, 16, 16, 16, 2, 3))
    assert whole.shape == (3, 16, 16) and whole.float().std() > 0


def test_a_file_cut_inside_its_data_is_refused(decoder):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    with pytest.raises(DataError, match="cannot decode image"):
        decode_image(data[: len(data) // 2])
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((48, 48, 3), dtype=np.uint8)).save(buffer, "JPEG")
    with pytest.raises(DataError, match="cannot decode image"):
        decode_image(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _interlaced(pixels: np.ndarray, keep: float = 1.0) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG of ``pixels`` (Pillow writes none), its data cut to ``keep``."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    subs = [pixels[y::dy, x::dx] for x, y, dx, dy in passes]
    raw = b"".join(b"\x00" + row.tobytes() for sub in subs if sub.size for row in sub)
    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 2, 0, 0, 1)
    idat = zlib.compress(raw[: int(len(raw) * keep)])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("shape", [(13, 11), (1, 1), (9, 2)])
def test_interlaced_pngs_keep_their_pixels_and_are_refused_short(decoder, shape):
    pixels = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    decoded = decode_image(_interlaced(pixels))
    assert decoded.permute(1, 2, 0).numpy().tolist() == pixels.tolist()
    with pytest.raises(DataError, match="cannot decode image"):
        decode_image(_interlaced(pixels, keep=0.9))
