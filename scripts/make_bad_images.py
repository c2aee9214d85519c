"""Write the damaged and hostile image files of issue 14 (item 7), for tests and benchmarks/decoders.py.

Each case is a function of no arguments giving the file's bytes (:data:`CASES`, name to
function): a PNG whose IDAT chunk holds only the first bytes of the compressed pixels (a
valid chunk, CRC and all, so only a decoder that inflates notices), a PNG whose header
claims 60000 x 60000 pixels, a 16000 x 16000 grey PNG of one colour (243 KiB on disk, 768 MB as
RGB pixels: a decompression bomb), a JPEG cut after a third of its bytes, an empty file,
a text file named like an image, and an animated GIF (valid: its first frame is the image).

Run: python scripts/make_bad_images.py DIR   (writes one file per case into DIR)
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, idat: bytes, colour_type: int = 2) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)  # 8-bit, 2 = RGB, 0 = grey
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def photo(width: int = 500, height: int = 375, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (H x W x 3 uint8), compressible like a photograph."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(xs / (17 + 7 * c) + rng.uniform(0, 6)) + np.cos(ys / (23 + 5 * c)) for c in range(3)], -1)
    noise = rng.normal(0, 0.08, (height, width, 3))
    return (np.clip((base + 2) / 4 + noise, 0, 1) * 255).astype(np.uint8)


def encoded(array: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    """``array`` (H x W x 3 uint8) as a file of format ``fmt`` ("JPEG", "PNG", ...) by Pillow."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def short_idat() -> bytes:
    """A 64 x 48 PNG whose (valid) IDAT chunk keeps only 40 of its compressed bytes."""
    pixels = photo(64, 48)
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(48))  # filter byte 0, then the row
    return _png(64, 48, zlib.compress(rows)[:40])


def huge_header() -> bytes:
    """A 60000 x 60000 PNG header (3.6 gigapixels) followed by a few bytes of pixels."""
    return _png(60000, 60000, zlib.compress(b"\x00" * 1000))


def bomb() -> bytes:
    """A 16000 x 16000 grey PNG of one colour: 243 KiB here, 768 MB decoded as RGB."""
    row = b"\x00" + b"\x00" * 16000
    stream = zlib.compressobj(9)
    body = b"".join(stream.compress(row) for _ in range(16000)) + stream.flush()
    return _png(16000, 16000, body, colour_type=0)


def truncated_jpeg() -> bytes:
    """A 500 x 375 JPEG cut after the first third of its bytes."""
    data = encoded(photo(), "JPEG", quality=90)
    return data[: len(data) // 3]


def empty() -> bytes:
    return b""


def text() -> bytes:
    """A web server's error page saved under an image's name."""
    return b"<html><body>404 Not Found</body></html>\n"


def animated_gif() -> bytes:
    """A valid 3-frame 40 x 30 GIF: red, then green, then blue (its first frame is red)."""
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


#: The damaged cases, name -> (suffix, maker); the animated GIF is valid and kept apart.
CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "short IDAT": (".png", short_idat),
    "60000x60000 header": (".png", huge_header),
    "16000x16000 bomb": (".png", bomb),
    "truncated JPEG": (".jpg", truncated_jpeg),
    "zero bytes": (".jpg", empty),
    "text as .jpg": (".jpg", text),
}


def write_all(folder: Path) -> dict[str, Path]:
    """Every case and the animated GIF written into ``folder``; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (suffix, make) in {**CASES, "animated GIF": (".gif", animated_gif)}.items():
        path = folder / (name.replace(" ", "_").replace(".", "") + suffix)
        path.write_bytes(make())
        paths[name] = path
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    for name, path in write_all(Path(sys.argv[1])).items():
        print(f"{name}: {path} ({path.stat().st_size} bytes)")
