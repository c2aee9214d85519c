"""The one reader of weight files and checkpoints: bytes read once, checked, then parsed safely.

Every ``.pth``/``.pt`` file (pretrained weights, a run's ``last.pt``/``best.pt``) and every
``.safetensors`` file goes through :func:`read_file` and :func:`parse`:

* the file is read once into memory, so that the bytes whose SHA-256 is checked are the
  bytes that are parsed (a file swapped between the check and the load is never loaded);
* ``torch.save`` writes a zip archive whose members carry CRC-32 checksums that
  ``torch.load`` does not verify: they are verified here, so that a flipped bit is refused,
  not loaded as a slightly different weight;
* torch files are read with ``torch.load(weights_only=True)`` on the CPU: a file that would
  need arbitrary unpickling is an :class:`~cnnzoo.errors.UnsafeCheckpointError` and its code
  never runs; safetensors files are read by safetensors. The format is found from the
  content, not the suffix;
* the one type beyond tensors and containers that is allowed in is ``argparse.Namespace``
  (:data:`SAFE_GLOBALS`): timm's ``train.py`` (``model_best.pth.tar``: ``state_dict``,
  ``args``) and torchvision's reference ``train.py`` (``checkpoint.pth``: ``model``,
  ``args``) store their command line in one. Rebuilding a Namespace sets attributes on a
  plain object and runs no code of the file's choosing; its values still pass the same
  weights-only unpickler.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import zipfile
from typing import Any

import torch

from ..errors import CheckpointError, MissingDependencyError, UnsafeCheckpointError, WeightsError
from ..reading import MAX_WEIGHTS_BYTES, env_limit, read_bytes

__all__ = ["read_file", "parse", "read_weights_file", "is_safetensors", "SAFE_GLOBALS"]

_ZIP_MAGIC = b"PK\x03\x04"
#: the classes beyond torch's weights-only defaults that a checkpoint may hold (see the module docstring)
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a weights or checkpoint file, read once (a :class:`WeightsError` if absent)."""
    limit = env_limit("CNNZOO_MAX_WEIGHTS_BYTES", MAX_WEIGHTS_BYTES, WeightsError)
    return read_bytes(
        path, "weights file", limit=limit, error=WeightsError, hint=" (set CNNZOO_MAX_WEIGHTS_BYTES to raise it)"
    )


def is_safetensors(data: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header starting ``{``."""
    if len(data) < 9 or data[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(data[:8], "little") <= len(data) - 8


def parse(data: bytes, path: str | os.PathLike[str]) -> Any:
    """Load the bytes of a torch or safetensors file (``path`` names it in messages)."""
    if is_safetensors(data):
        return _parse_safetensors(data, path)
    if data[:4] == _ZIP_MAGIC:
        _check_zip(data, path)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's weights-only unpickler names what it refused, after its generic preamble
        detail = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln or "Unsupported" in ln), "")
        if "GLOBAL" in detail:
            raise UnsafeCheckpointError(
                f"refusing to load '{path}': it needs arbitrary unpickling, which can run code "
                f"({detail[:200]}). Load it only if you trust it, then save its state_dict with "
                "torch.save or as safetensors"
            ) from None
        raise CheckpointError(
            f"'{path}' is not a PyTorch weights file that can be read safely: it is corrupt, or "
            f"a plain pickle that would need arbitrary unpickling, which cnnzoo refuses ({detail[:200]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(
            f"'{path}' is not a readable PyTorch weights file (truncated or corrupt?): "
            f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
        ) from None
    except Exception:  # noqa: BLE001 - a text or other file read as a legacy pickle fails any which way (KeyError ...)
        raise CheckpointError(
            f"'{path}' is not a PyTorch weights file (neither torch.save output nor safetensors); "
            "pass a .pth/.pt/.safetensors state dict"
        ) from None


def _check_zip(data: bytes, path: str | os.PathLike[str]) -> None:
    """Verify every member's CRC-32 (torch.load does not): a flipped bit is refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as e:
        raise CheckpointError(f"'{path}' is a damaged zip archive (truncated or corrupt?): {e}") from None
    except Exception as e:  # noqa: BLE001 - zlib and struct errors of a damaged archive
        raise CheckpointError(f"'{path}' is a damaged zip archive: {type(e).__name__}: {e}") from None
    if bad is not None:
        raise CheckpointError(
            f"'{path}' is corrupt: its member {bad!r} fails its CRC-32 check (a changed "
            "byte); it was not loaded. Download or copy it again"
        )


def _parse_safetensors(data: bytes, path: str | os.PathLike[str]) -> Any:
    try:
        from safetensors.torch import load
    except ImportError:
        raise MissingDependencyError(
            f"'{path}' is a safetensors file; reading it needs the safetensors package: "
            "pip install safetensors (or pip install 'cnnzoo[safetensors]')"
        ) from None
    try:
        return load(data)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise WeightsError(f"'{path}' is not a readable safetensors file: {str(e)[:200]}") from None


def read_weights_file(path: str | os.PathLike[str]) -> Any:
    """Load a ``.pth``/``.pt`` or ``.safetensors`` file safely, whatever its suffix says."""
    return parse(read_file(path), path)
