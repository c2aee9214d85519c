"""The one reader of weight files and checkpoints: opened once, checked, then parsed safely.

Every ``.pth``/``.pt`` file (pretrained weights, a run's ``last.pt``/``best.pt``) and every
``.safetensors`` file goes through :func:`open_weights` (or :func:`read_file` and :func:`parse`):

* the path is opened once (:func:`cnnzoo.reading.open_file`: a regular file within
  ``CNNZOO_MAX_WEIGHTS_BYTES``), and everything after reads that open file: its SHA-256 is
  streamed, and its tensors are memory-mapped through the same descriptor, so a file of many
  GB is never read whole into memory, and a file renamed over the path meanwhile is not the
  one loaded. A file whose hash decides whether it is trusted (a catalogued download in the
  cache) is instead read whole by :func:`read_file` and parsed from those bytes by
  :func:`parse`: a mapped file rewritten in place after its check would load other bytes;
* ``torch.save`` writes a zip archive whose members carry CRC-32 checksums that
  ``torch.load`` does not verify: they are verified here (streamed), so that a flipped bit is
  refused, not loaded as a slightly different weight;
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
import contextlib
import hashlib
import io
import os
import pickle
import zipfile
from collections.abc import Iterator
from typing import IO, Any

import torch

from ..errors import CheckpointError, CnnzooError, UnsafeCheckpointError, WeightsError
from ..reading import MAX_WEIGHTS_BYTES, env_limit, open_file, read_bytes
from .optional import optional_module

__all__ = [
    "open_weights",
    "WeightsFile",
    "read_file",
    "parse",
    "read_weights_file",
    "is_safetensors",
    "safetensors_torch",
    "SAFE_GLOBALS",
]

_ZIP_MAGIC = b"PK\x03\x04"
#: the classes beyond torch's weights-only defaults that a checkpoint may hold (see the module docstring)
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


_HINT = " (set CNNZOO_MAX_WEIGHTS_BYTES to raise it)"
_NOT_TORCH = (
    "'{path}' is not a PyTorch {what} (neither torch.save output nor safetensors), or it is corrupt "
    "or truncated ({why}); cnnzoo reads .pth/.pt (torch.save) and .safetensors files"
)


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a weights or checkpoint file, read once (a :class:`WeightsError` if absent)."""
    limit = env_limit("CNNZOO_MAX_WEIGHTS_BYTES", MAX_WEIGHTS_BYTES, WeightsError)
    return read_bytes(path, "weights file", limit=limit, error=WeightsError, hint=_HINT)


class WeightsFile:
    """An open weights file or checkpoint (:func:`open_weights`): its format from its first bytes,
    its SHA-256 streamed, its content loaded memory-mapped, all through the one descriptor."""

    def __init__(self, fd: int, path: str | os.PathLike[str], what: str = "weights file") -> None:
        self.fd, self.path, self.what = fd, path, what
        self.head = head = os.pread(fd, 16, 0)
        self.is_zip = head[:4] == _ZIP_MAGIC
        self.is_safetensors = is_safetensors(head, os.fstat(fd).st_size)
        # the open file by a path of its own (Linux): torch's and safetensors' mmap take a path,
        # and this one cannot be made to name another file
        proc = f"/proc/self/fd/{fd}"
        self._mappable = proc if os.path.exists(proc) else os.fspath(path)

    def _stream(self) -> IO[bytes]:
        return os.fdopen(os.dup(self.fd), "rb")

    def sha256(self) -> str:
        """The file's SHA-256, read in chunks."""
        digest = hashlib.sha256()
        with self._stream() as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
        return digest.hexdigest()

    def load(self) -> Any:
        """The file's content (see the module docstring), tensors memory-mapped where the format allows."""
        if self.is_safetensors:
            return _parse_safetensors(self._mappable, self.path)
        # torch's legacy format (a pickle, not a zip) cannot be mapped: it is parsed from the stream
        with self._stream() as f:
            if not self.is_zip:
                return _torch_load(f, self.path, self.what)
            return _torch_load(self._mappable, self.path, self.what, mmap=True, archive=f)


@contextlib.contextmanager
def open_weights(
    path: str | os.PathLike[str], *, what: str = "weights file", error: type[CnnzooError] = WeightsError
) -> Iterator[WeightsFile]:
    """Open a weights file or checkpoint once: a regular file within ``CNNZOO_MAX_WEIGHTS_BYTES``
    (else ``error``, naming it ``what``)."""
    limit = env_limit("CNNZOO_MAX_WEIGHTS_BYTES", MAX_WEIGHTS_BYTES, error)
    fd = open_file(path, what, limit=limit, error=error, hint=_HINT)
    try:
        yield WeightsFile(fd, path, what)
    finally:
        os.close(fd)


def is_safetensors(data: bytes, size: int | None = None) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON header starting ``{``
    (``data`` is the file, or its first bytes of a file of ``size`` bytes); a zip archive (torch.save) never is."""
    if len(data) < 9 or data[8:9] != b"{" or data[:4] == _ZIP_MAGIC:
        return False
    return 2 <= int.from_bytes(data[:8], "little") <= (len(data) if size is None else size) - 8


def parse(data: bytes, path: str | os.PathLike[str]) -> Any:
    """Load the bytes of a torch or safetensors file (``path`` names it in messages)."""
    if is_safetensors(data):
        return _parse_safetensors(data, path)
    return _torch_load(io.BytesIO(data), path, archive=io.BytesIO(data) if data[:4] == _ZIP_MAGIC else None)


def _torch_load(
    source: Any,
    path: str | os.PathLike[str],
    what: str = "weights file",
    mmap: bool = False,
    archive: IO[bytes] | None = None,
) -> Any:
    """torch.load of a file (weights only, on the CPU), its zip ``archive`` (torch.save's format) checked first;
    whatever fails is one :class:`CheckpointError`, or an :class:`UnsafeCheckpointError`."""
    try:
        if archive is not None:
            _check_zip(archive)
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - a damaged file fails as zipfile's BadZipFile (a failed CRC-32 too),
        # RuntimeError, EOFError, OSError, zlib and struct errors ..., a text or other file read as a legacy pickle any
        # which way (KeyError ...); torch's weights-only unpickler names what it refused after a generic preamble
        why = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln or "Unsupported" in ln), _first_line(e))
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in why:
            raise UnsafeCheckpointError(
                f"refusing to load '{path}': it needs arbitrary unpickling, which can run code "
                f"({why[:200]}). Load it only if you trust it, then save its state_dict with "
                "torch.save or as safetensors"
            ) from None
        raise CheckpointError(_NOT_TORCH.format(path=path, what=what, why=why[:200])) from None


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0][:200]}" if str(e) else type(e).__name__


def _check_zip(source: IO[bytes]) -> None:
    """Verify every member's CRC-32 (torch.load does not), streamed: a flipped bit is refused.

    zipfile checks a member's CRC-32 when it has read the member to its end."""
    with zipfile.ZipFile(source) as archive:
        for member in archive.infolist():
            with archive.open(member) as f:
                while f.read(1 << 24):
                    pass


def safetensors_torch(why: str) -> Any:
    """``safetensors.torch``, an optional dependency (a :class:`MissingDependencyError` saying ``why`` it is
    needed where it is not installed)."""
    return optional_module("safetensors.torch", why, "safetensors (or 'cnnzoo[safetensors]')")


def _parse_safetensors(source: bytes | str, path: str | os.PathLike[str]) -> Any:
    """A safetensors file's tensors: from bytes, or memory-mapped from a file's path."""
    st = safetensors_torch(f"'{path}' is a safetensors file; reading it")
    try:
        return st.load(source) if isinstance(source, bytes) else st.load_file(source, device="cpu")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise WeightsError(f"'{path}' is not a readable safetensors file: {str(e)[:200]}") from None


def read_weights_file(path: str | os.PathLike[str]) -> Any:
    """Load a ``.pth``/``.pt`` or ``.safetensors`` file safely and memory-mapped, whatever its suffix says."""
    with open_weights(path) as f:
        return f.load()
