"""Image files to uint8 tensors: one decoder path, checked before it runs, errors reported not fatal.

torchvision 0.29 deprecates its image decoders in favour of TorchCodec, and they crash the
process (SIGSEGV in libpng) on a PNG whose IDAT chunk is short. The path here, chosen by
benchmarks/decoders.py (benchmarks/RESULTS.md, section 6):

1. Pillow opens the header only (no pixels) to learn the format and size; an image over
   :func:`max_image_pixels` is refused before any memory is taken (TorchCodec has no limit: a
   243 KiB PNG becomes 768 MB, a 74-byte one asks for 10.8 GB);
2. JPEG, PNG and still WebP are decoded by TorchCodec where it is installed (the faster
   decoder, and it reports a short IDAT instead of crashing); anything else, an animated
   image (its first frame) and every install without TorchCodec go through Pillow.

Every failure is a :class:`~cnnzoo.errors.DataError` with the decoder's whole message on one line.
The pictures cnnzoo writes (saliency and CAM overlays, data samples) are encoded by Pillow too
(:func:`encode_png`): no torchvision.io codec runs in cnnzoo but the nvJPEG one of ``--decode gpu``.
"""

from __future__ import annotations

import functools
import io
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from ..errors import DataError
from ..models.arguments import checked
from ..reading import env_limit, read_bytes

__all__ = ["MAX_IMAGE_PIXELS", "max_image_pixels", "decoder", "decode_image", "read_image", "encode_png"]

#: Pillow's default decompression-bomb limit (about 0.25 GB of 24-bit pixels), ours by default too.
MAX_IMAGE_PIXELS = 89_478_485
_TORCHCODEC_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_PILLOW_LIMIT = threading.Lock()  # Pillow's own bomb check is a module global: ours replaces it while we open
# TorchCodec prefixes its messages with the C++ function and source line: "decode_rows, /__w/.../X.cpp:316, "
_SOURCE_PREFIX = re.compile(r"^(?:\w+, )?\S+\.(?:cpp|h|c):\d+, ")


def max_image_pixels() -> int:
    """The most pixels an image may have: ``CNNZOO_MAX_IMAGE_PIXELS`` if set, else :data:`MAX_IMAGE_PIXELS`."""
    return env_limit("CNNZOO_MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS, DataError)


def check_resized(image: torch.Tensor, size: int | Sequence[int], name: str = "image") -> torch.Tensor:
    """``image`` (``... x H x W``), refused with a :class:`DataError` when resizing it to ``size`` (the
    shorter side, as ``torchvision``'s ``Resize(int)``; or ``(H, W)``) would give more pixels than
    :func:`max_image_pixels`: a 1 x 80,000,000 image is under the limit, its shorter side resized to
    256 is not (20 billion pixels)."""
    h, w = image.shape[-2:]
    if isinstance(size, int) or len(size) == 1:
        side = size if isinstance(size, int) else size[0]
        out_h, out_w = (side, side * w // max(h, 1)) if h <= w else (side * h // max(w, 1), side)
    else:
        out_h, out_w = size
    _within_limit(out_w, out_h, f"resize {name} of {w}x{h} to")
    return image


def _within_limit(width: int, height: int, doing: str) -> None:
    """The one pixel limit, of an image's header and of its resized size: ``width`` x ``height`` pixels
    over :func:`max_image_pixels` are refused before any memory is taken for them."""
    limit = max_image_pixels()
    if width * height > limit:
        raise DataError(
            f"refusing to {doing} {width}x{height} = {width * height:,} pixels, over the limit of {limit:,} "
            "(set CNNZOO_MAX_IMAGE_PIXELS to raise it)"
        )


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """An image file's bytes, through cnnzoo's one file opener (:func:`cnnzoo.reading.read_bytes`): a
    regular file of at most 16 bytes per allowed pixel (a float RGBA TIFF) and 1 MiB of header."""
    return read_bytes(
        path,
        "image",
        limit=16 * max_image_pixels() + (1 << 20),
        error=DataError,
        hint=" (set CNNZOO_MAX_IMAGE_PIXELS to raise it)",
    )


@functools.lru_cache(maxsize=1)
def _torchcodec() -> Any:
    try:
        from torchcodec import decoders
    except Exception:  # noqa: BLE001 - not installed, or its FFmpeg libraries are missing: Pillow decodes
        return None
    return decoders


def decoder() -> str:
    """Which decoder decodes JPEG, PNG and WebP here: ``"torchcodec"`` if installed, else ``"pillow"``."""
    return "torchcodec" if _torchcodec() is not None else "pillow"


def _one_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).strip().splitlines() if line.strip())
    return _SOURCE_PREFIX.sub("", text) or type(error).__name__


def _open_header(data: bytes, name: str) -> Any:
    """Pillow's image object with only its header read, checked against the pixel limit (a header of zero
    width or height Pillow's own open refuses, for every format it can decode)."""
    from PIL import Image, UnidentifiedImageError

    with _PILLOW_LIMIT, warnings.catch_warnings():
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we check, with our limit and message
        try:
            im = Image.open(io.BytesIO(data))
        except Exception as e:  # noqa: BLE001 - a damaged header raises anything from SyntaxError to struct.error
            # Pillow's words for an empty file or an unknown format name a BytesIO object, not the file
            unknown = f"not an image file that Pillow can identify (its first bytes: {data[:8]!r})"
            unknown = unknown if data else "the file is empty (0 bytes)"
            why = unknown if isinstance(e, UnidentifiedImageError) else _one_line(e)
            raise DataError(f"cannot decode {name}: {why}") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    _within_limit(*im.size, f"decode {name}: its header claims")
    return im


def _eight_bit(im: Any) -> Any:
    """A 16-bit or float grey image as 8-bit by its range: Pillow's own ``convert`` clips 16-bit values
    at 255 (a white image) and truncates floats in [0, 1] to 0 or 1 (a black one). 16-bit values
    are divided by 257 (65535 -> 255); floats are in [0, 1] (scaled by 255) unless some value is
    over 1, then in [0, 255]; NaN is 0."""
    from PIL import Image

    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    pixels = np.nan_to_num(np.asarray(im, dtype=np.float64))
    scale = (255.0 if pixels.max(initial=0) <= 1 else 1.0) if im.mode == "F" else 1 / 257
    return Image.fromarray(np.clip(np.rint(pixels * scale), 0, 255).astype(np.uint8), "L")


#: PNG's Adam7 interlacing: each pass's first column and row and its steps (PNG spec, Sec. 8.2)
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type (PNG spec, Sec. 6.1)


def _png_data_problem(data: bytes) -> str | None:
    """Why a PNG's image data is shorter than its header's size says (None: it is not). Pillow fills the
    missing rows with zeros without a word when the zlib stream in IDAT ends early; here the inflated
    bytes are counted (not kept) and compared with what the header's size, depth and interlacing need."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    bits = depth * _PNG_CHANNELS.get(colour, 1)
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    sizes = [(-(-(width - x) // dx), -(-(height - y) // dy)) for x, y, dx, dy in passes]
    need = sum(h * (1 + -(-w * bits // 8)) for w, h in sizes if w > 0 and h > 0)
    inflate, got, pos = zlib.decompressobj(), 0, 8
    try:
        while pos + 8 <= len(data) and not inflate.eof and got < need:
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            chunk, pos = data[pos + 8 : pos + 8 + length], pos + 12 + length
            while kind == b"IDAT" and chunk and got < need:  # counted a MiB at a time: no bomb is held
                got += len(inflate.decompress(chunk, 1 << 20))
                chunk = inflate.unconsumed_tail
    except zlib.error as e:
        return f"its image data is damaged ({e})"
    return None if got >= need else f"its image data holds {got:,} of the {need:,} bytes its header's size needs"


def _pillow(im: Any, channels: int) -> torch.Tensor:
    from PIL import Image, ImageOps

    with _PILLOW_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # some plugins check again while loading
        try:
            im.seek(0)  # an animated image: its first frame
            # upright as a viewer shows it, as TorchCodec decodes it: both decoders give the same pixels
            im = ImageOps.exif_transpose(im)
            pixels = np.asarray(_eight_bit(im).convert("L" if channels == 1 else "RGB"))
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    x = torch.from_numpy(pixels.copy())
    return x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)


@checked  # about 20 us, against a millisecond or more to decode the smallest PNG
def decode_image(
    data: bytes | bytearray | memoryview | torch.Tensor, channels: Literal[1, 3] = 3, name: str = "image"
) -> torch.Tensor:
    """An encoded image file's pixels as a uint8 tensor ``channels x H x W`` (1 = grey, 3 = RGB).

    The header is checked first (format, and size against :func:`max_image_pixels`); JPEG,
    PNG and WebP are decoded by TorchCodec where it is installed, everything else (GIF, BMP,
    TIFF ...) by Pillow; an animated image gives its first frame. ``name`` is how messages
    call the file. Raises :class:`~cnnzoo.errors.DataError` (one line) for a file that cannot be decoded.
    """
    raw = data.numpy().tobytes() if isinstance(data, torch.Tensor) else bytes(data)
    im = _open_header(raw, name)
    codec = _torchcodec()
    try:
        if codec is not None and im.format in _TORCHCODEC_FORMATS and not getattr(im, "is_animated", False):
            return codec.decode_image(raw, mode="GRAY" if channels == 1 else "RGB")  # reports a short PNG itself
        pixels = _pillow(im, channels)
    except Exception as e:  # noqa: BLE001 - damaged pixels: RuntimeError, OSError, ValueError, SyntaxError ...
        raise DataError(f"cannot decode {name}: {_one_line(e)}") from None
    problem = _png_data_problem(raw) if im.format == "PNG" else None
    if problem is not None:
        raise DataError(f"cannot decode {name}: {problem}")
    return pixels


def read_image(path: str | os.PathLike[str], channels: Literal[1, 3] = 3) -> torch.Tensor:
    """An image file's pixels (see :func:`decode_image`); messages name the file."""
    return decode_image(read_image_bytes(path), channels, f"image {path}")


def encode_png(image: torch.Tensor) -> bytes:
    """A uint8 ``C x H x W`` tensor (1 = grey, 3 = RGB) as the bytes of a PNG file, by Pillow."""
    from PIL import Image

    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] not in (1, 3):
        raise DataError(f"encode_png takes a uint8 tensor of 1 or 3 x H x W, got {image.dtype} {tuple(image.shape)}")
    pixels = image.detach().cpu().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if image.shape[0] == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()
