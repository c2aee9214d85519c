"""Weight files on disk: the cache, verified downloads, offline mode, trust on first use.

Every file is checked against the catalogue's SHA-256 (or, where only the 8-digit prefix
of the upstream file name or nothing is published, against the hash recorded at its first
download: trust on first use) before it is kept and again before every use. Downloads go
to a temporary file in the cache directory (:mod:`cnnzoo.atomic`) and are renamed only once
complete and verified, so an interrupted or corrupt download never leaves a file that
later loads. Reading the files is :mod:`cnnzoo.weights.files`.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path, atomic_write
from ..errors import HashMismatchError, OfflineError, WeightsDownloadError, WeightsError
from . import hfhub
from .catalogue import WeightsEntry
from .files import read_weights_file

__all__ = ["cache_dir", "cached_path", "cached_file", "is_offline", "sha256_file", "fetch", "verify_cached",
           "import_file", "asset_path"]

log = logging.getLogger("cnnzoo")

_CHUNK = 1 << 20
_TOFU_SUFFIX = ".sha256"


def cache_dir() -> Path:
    """Where downloaded weights live: ``$CNNZOO_HOME/weights`` (default ``<torch hub>/cnnzoo``)."""
    home = os.environ.get("CNNZOO_HOME") or os.path.join(torch.hub.get_dir(), "cnnzoo")
    return Path(home).expanduser() / "weights"


def is_offline() -> bool:
    """True when ``CNNZOO_OFFLINE`` is set to 1/true/yes/on: use the cache, never download."""
    return os.environ.get("CNNZOO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def asset_path(filename: str) -> Path:
    """A file shipped inside the package (``cnnzoo/assets``)."""
    return Path(__file__).resolve().parent.parent / "assets" / filename


def cached_path(entry: WeightsEntry) -> Path:
    """Where ``entry``'s file is (shipped weights) or will be (downloaded weights)."""
    return asset_path(entry.filename) if entry.url is None else cache_dir() / entry.filename


def cached_file(entry: WeightsEntry) -> Path | None:
    """The local copy of ``entry`` (shipped, in cnnzoo's cache or the Hub's), or None; not verified."""
    path = cached_path(entry)
    if path.exists():
        return path
    if entry.hf_hub_id is not None and hfhub.available():
        return hfhub.hub_file(entry.hf_hub_id, entry.hf_filename, download=False)
    return None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_hash(entry: WeightsEntry, digest: str, what: str) -> None:
    expected = entry.sha256 or entry.hash_prefix
    if expected and not digest.startswith(expected):
        raise HashMismatchError(
            f"{what} for '{entry.tag}' has SHA-256 {digest}, expected "
            f"{'' if entry.sha256 else 'a hash starting with '}{expected}; the file is corrupt "
            f"or not the published one ({entry.url or entry.filename})")


def _tofu_record(entry: WeightsEntry) -> Path:
    # in cnnzoo's cache whatever cache holds the file (the Hub's is not ours to write in)
    return cache_dir() / (entry.filename + _TOFU_SUFFIX)


def _warn_unpinned(entry: WeightsEntry, digest: str) -> None:
    if entry.sha256:
        return
    what = ("only the 8-digit hash prefix of its file name is published"
            if entry.hash_prefix else "no SHA-256 is published for it")
    msg = (f"weights '{entry.tag}': {what}; trusting this first copy (SHA-256 {digest}) and "
           "refusing any later file that differs")
    warnings.warn(msg, stacklevel=3)


def verify_cached(entry: WeightsEntry, path: Path) -> None:
    """Re-hash a cached (or shipped) file before use; a changed file is refused."""
    digest = sha256_file(path)
    advice = ("reinstall cnnzoo" if entry.url is None else
              f"delete {path} and download it again (cnnzoo weights download {entry.tag})")
    try:
        _check_hash(entry, digest, f"the cached file {path}")
    except HashMismatchError as e:
        raise HashMismatchError(f"{e}; {advice}") from None
    if entry.sha256:
        return
    record = _tofu_record(entry)
    if not record.exists():
        record.parent.mkdir(parents=True, exist_ok=True)
        # a file put into the cache by hand: trust it now, as on first download
        _warn_unpinned(entry, digest)
        atomic_write(record, digest + "\n")
        return
    trusted = record.read_text().strip()
    if digest != trusted:
        raise HashMismatchError(
            f"the cached file {path} for '{entry.tag}' has SHA-256 {digest} but its first copy "
            f"had {trusted} (recorded in {record}); it was changed or replaced: {advice}")


def _download(url: str, dest: Path, entry: WeightsEntry, progress: bool) -> str:
    """Stream ``url`` to a temporary file next to ``dest``; verify; rename. Returns the SHA-256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    received = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "cnnzoo"})
        with atomic_path(dest) as tmp, open(tmp, "wb") as out, \
                urllib.request.urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _progress_bar(total, dest.name, progress)
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
            if total is not None and received != total:
                # urllib does not raise when the server closes early: count the bytes
                raise WeightsDownloadError(
                    f"download of {url} was cut after {received} of {total} bytes; nothing "
                    "was kept, try again")
            out.flush()
            _check_hash(entry, digest.hexdigest(), f"the download {url}")  # raising here keeps nothing
        return digest.hexdigest()
    except urllib.error.HTTPError as e:
        raise WeightsDownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        why = f"the network is unreachable ({e.reason})"
        raise OfflineError(_offline_message(entry, dest, why)) from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise WeightsDownloadError(f"download of {url} failed: {e!r}; nothing was kept") from None


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, name: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                file=sys.stderr, mininterval=0.5)


def _offline_message(entry: WeightsEntry, dest: Path, why: str) -> str:
    return (f"weights '{entry.tag}' are not in the cache and {why}: download {entry.url} on a "
            f"connected machine and put it at {dest}, or run 'cnnzoo weights import {entry.tag} FILE'")


def fetch(entry: WeightsEntry, *, progress: bool = True) -> Path:
    """The verified local file of ``entry``: shipped, cached, or downloaded now.

    A file of the Hugging Face Hub is taken from (or downloaded into) the Hub's own cache
    where ``huggingface_hub`` is installed (:mod:`~cnnzoo.weights.hfhub`), so that a timm
    user's copy serves; the SHA-256 check is the same.
    """
    path = cached_path(entry)
    if path.exists():
        verify_cached(entry, path)
        return path
    if entry.hf_hub_id is not None and hfhub.available():
        hub_path = hfhub.hub_file(entry.hf_hub_id, entry.hf_filename, download=not hfhub.offline())
        if hub_path is not None:
            verify_cached(entry, hub_path)
            return hub_path
    if entry.url is None:
        raise WeightsError(f"the packaged weights file {path} of '{entry.tag}' is missing; "
                           "reinstall cnnzoo")
    if is_offline():
        raise OfflineError(_offline_message(entry, path, "cnnzoo is offline (CNNZOO_OFFLINE is set)"))
    log.info("downloading %s to %s", entry.url, path)
    digest = _download(entry.url, path, entry, progress)
    if not entry.sha256:
        _warn_unpinned(entry, digest)
        atomic_write(_tofu_record(entry), digest + "\n")
    return path


def import_file(entry: WeightsEntry, source: str | os.PathLike[str]) -> Path:
    """Copy a local file into the cache under ``entry``'s name after checking its hash."""
    source = Path(source)
    if entry.url is None:
        raise WeightsError(f"'{entry.tag}' ships inside the package; there is nothing to import")
    if not source.is_file():
        raise WeightsError(f"cannot import '{source}': no such file")
    digest = sha256_file(source)
    _check_hash(entry, digest, f"the file {source}")
    if not entry.sha256:
        # nothing to compare all the bytes with: at least make sure they read as weights
        read_weights_file(source)
    dest = cached_path(entry)
    dest.parent.mkdir(parents=True, exist_ok=True)

    def copy(f: Any) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, f, _CHUNK)

    atomic_write(dest, copy)
    if not entry.sha256:
        _warn_unpinned(entry, digest)
        atomic_write(_tofu_record(entry), digest + "\n")
    return dest
