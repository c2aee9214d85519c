"""Weight files on disk: the cache, verified downloads, offline mode, trust on first use.

Every file is checked against the catalogue's SHA-256 (or, where only the 8-digit prefix
of the upstream file name or nothing is published, against the hash recorded at its first
download: trust on first use) before it is kept and again before every use. Downloads go
to a temporary file in the cache directory (:mod:`cnnzoo.atomic`) and are renamed only once
complete and verified, so an interrupted or corrupt download never leaves a file that
later loads. Reading the files is :mod:`cnnzoo.weights.files`.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import http.client
import logging
import os
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_path, atomic_write, remove_stale_temp_files
from ..errors import (
    CheckpointError,
    CnnzooError,
    HashMismatchError,
    MissingDependencyError,
    OfflineError,
    WeightsDownloadError,
    WeightsError,
    WriteError,
)
from ..reading import MAX_TEXT_BYTES, read_bytes
from . import hfhub
from .catalogue import WeightsEntry
from .files import open_weights, parse, read_file, read_weights_file

__all__ = [
    "cache_dir",
    "using_cache_dir",
    "cached_path",
    "cached_file",
    "is_offline",
    "sha256_file",
    "locate",
    "fetch",
    "verify_cached",
    "verify_digest",
    "import_file",
    "asset_path",
]

log = logging.getLogger("cnnzoo")

_CHUNK = 1 << 20
_TOFU_SUFFIX = ".sha256"


#: a folder chosen for one call (``create_model(..., cache_dir=DIR)``), over the environment's
_CACHE_OVERRIDE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("cnnzoo_cache_dir", default=None)


@contextlib.contextmanager
def using_cache_dir(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, downloads go to ``path`` and are looked for there (None: no change).

    timm's ``cache_dir`` argument: catalogued files are kept directly in ``path``, Hugging Face
    Hub files in ``huggingface_hub``'s layout below it (``path/models--ORG--NAME``), as timm
    keeps them.
    """
    if path is None:
        yield
        return
    folder = Path(path).expanduser()
    token, hub_token = _CACHE_OVERRIDE.set(folder), hfhub.HUB_CACHE_OVERRIDE.set(folder)
    try:
        yield
    finally:
        _CACHE_OVERRIDE.reset(token)
        hfhub.HUB_CACHE_OVERRIDE.reset(hub_token)


def cache_dir() -> Path:
    """Where downloaded weights live: ``$CNNZOO_HOME/weights`` (default ``<torch hub>/cnnzoo``), or the
    folder of :func:`using_cache_dir`."""
    override = _CACHE_OVERRIDE.get()
    if override is not None:
        return override
    home = os.environ.get("CNNZOO_HOME") or os.path.join(torch.hub.get_dir(), "cnnzoo")
    return Path(home).expanduser() / "weights"


def _make_cache_dir() -> Path:
    """The cache directory, created; one that cannot be (a file in its place, no permission) is a
    :class:`WeightsError` saying how to choose another."""
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        raise WeightsError(
            f"the weights cache {d} cannot be used ({e.strerror or e}); set CNNZOO_HOME to a writable folder"
        ) from None
    return d


def is_offline() -> bool:
    """True when ``CNNZOO_OFFLINE`` is set to 1/true/yes/on: use the cache, never download."""
    return hfhub.env_flag("CNNZOO_OFFLINE")


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
    """The hex SHA-256 of a weights file, streamed through the one reader (a regular file within
    ``CNNZOO_MAX_WEIGHTS_BYTES``, else a :class:`WeightsError`)."""
    with open_weights(path) as f:
        return f.sha256()


def _check_hash(entry: WeightsEntry, digest: str, what: str, advice: str = "") -> None:
    expected = entry.sha256 or entry.hash_prefix
    if expected and not digest.startswith(expected):
        raise HashMismatchError(
            f"{what} for '{entry.tag}' has SHA-256 {digest}, expected "
            f"{'' if entry.sha256 else 'a hash starting with '}{expected}; the file is corrupt "
            f"or not the published one ({entry.url or entry.filename}){advice}"
        )


def _tofu_record(entry: WeightsEntry) -> Path:
    # in cnnzoo's cache whatever cache holds the file (the Hub's is not ours to write in)
    return cache_dir() / (entry.filename + _TOFU_SUFFIX)


def _warn_unpinned(entry: WeightsEntry, digest: str) -> None:
    if entry.sha256:
        return
    what = (
        "only the 8-digit hash prefix of its file name is published"
        if entry.hash_prefix
        else "no SHA-256 is published for it"
    )
    msg = (
        f"weights '{entry.tag}': {what}; trusting this first copy (SHA-256 {digest}) and "
        "refusing any later file that differs"
    )
    warnings.warn(msg, stacklevel=3)


def verify_digest(entry: WeightsEntry, path: Path, digest: str) -> None:
    """Check the SHA-256 of the bytes about to be used as ``entry``'s file at ``path``.

    A published hash (or hash prefix) must match. An unpublished one must match the record
    cnnzoo wrote when it first downloaded or imported the file (trust on first use); a file
    in cnnzoo's cache without that record was not put there by cnnzoo, or its record was
    deleted: refused. A file of the user's Hugging Face cache is trusted on its first use.
    """
    advice = (
        "reinstall cnnzoo"
        if entry.url is None
        else f"delete {path} and download it again (cnnzoo weights download {entry.tag})"
    )
    _check_hash(entry, digest, f"the cached file {path}", f"; {advice}")
    if entry.sha256:
        return
    record = _tofu_record(entry)
    if not record.exists() and path.parent != cache_dir():
        _trust(entry, digest)  # the first use of a copy in the Hub's cache (a timm user's download)
        return
    trusted = _trusted_digest(record)
    if digest != trusted:
        raise HashMismatchError(
            f"the cached file {path} for '{entry.tag}' {_untrusted(entry, digest, trusted, advice)}"
        )


def _trusted_digest(record: Path) -> str | None:
    """The SHA-256 a trust record holds (None: there is no record)."""
    if not record.exists():
        return None
    data = read_bytes(record, "trust record", limit=MAX_TEXT_BYTES, error=HashMismatchError)
    return data.decode("ascii", "replace").strip()


def _untrusted(entry: WeightsEntry, digest: str, trusted: str | None, advice: str) -> str:
    """Why a file with SHA-256 ``digest`` is not the first copy of ``entry`` (``trusted``: the hash its record
    holds, None without a record)."""
    record = _tofu_record(entry)
    if trusted is None:
        return (
            f"has no trust record ({record}): cnnzoo writes one when it downloads or imports a file, so this "
            f"copy was put there otherwise or its record was deleted; {advice}, or import a copy you trust: "
            f"cnnzoo weights import {entry.tag} FILE"
        )
    return (
        f"has SHA-256 {digest} but its first copy had {trusted} (recorded in {record}); "
        f"it was changed or replaced: {advice}"
    )


def _trust(entry: WeightsEntry, digest: str) -> None:
    """Record the hash of an unpinned file's first copy (and warn that it is trusted on first use)."""
    _warn_unpinned(entry, digest)
    _make_cache_dir()
    atomic_write(_tofu_record(entry), digest + "\n")


def verify_cached(entry: WeightsEntry, path: Path) -> None:
    """Hash a cached (or shipped) file and check it (:func:`verify_digest`); a changed file is refused."""
    verify_digest(entry, path, sha256_file(path))


def _download(url: str, dest: Path, entry: WeightsEntry, progress: bool) -> str:
    """Stream ``url`` to a temporary file next to ``dest``; verify; rename. Returns the SHA-256."""
    _make_cache_dir()
    digest = hashlib.sha256()
    received = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "cnnzoo"})
        # with no published hash, a download cut short without a Content-Length to count
        # against would be kept and pinned: it must at least read as a whole file
        check = None if entry.sha256 else read_weights_file
        with (
            atomic_path(dest, before_rename=check) as tmp,
            open(tmp, "wb") as out,
            urllib.request.urlopen(request, timeout=60) as response,
        ):
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
                    f"download of {url} was cut after {received} of {total} bytes; nothing was kept, try again"
                )
            out.flush()
            _check_hash(entry, digest.hexdigest(), f"the download {url}")  # raising here keeps nothing
        return digest.hexdigest()
    except (OSError, ValueError, http.client.HTTPException, CnnzooError) as e:
        raise _download_error(e, url, entry, dest) from None


def _download_error(e: Exception, url: str, entry: WeightsEntry, dest: Path) -> Exception:
    """What a failed download (nothing of it kept) means for the user, from the exception's type."""
    if isinstance(e, (HashMismatchError, WeightsDownloadError, WriteError, MissingDependencyError)):
        return e  # already says what went wrong
    if isinstance(e, (CheckpointError, WeightsError)):  # the finished file does not read as weights
        return WeightsDownloadError(f"the download is not a whole weights file ({e}); nothing was kept, try again")
    if isinstance(e, urllib.error.HTTPError):
        return WeightsDownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}")
    if isinstance(e, urllib.error.URLError):
        return OfflineError(_offline_message(entry, dest, f"the network is unreachable ({e.reason})"))
    return WeightsDownloadError(f"download of {url} failed: {e!r}; nothing was kept")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int | None, name: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr, mininterval=0.5)


def _offline_message(entry: WeightsEntry, dest: Path, why: str) -> str:
    return (
        f"weights '{entry.tag}' are not in the cache and {why}: download {entry.url} on a "
        f"connected machine and put it at {dest}, or run 'cnnzoo weights import {entry.tag} FILE'"
    )


def locate(entry: WeightsEntry, *, progress: bool = True) -> Path:
    """Where ``entry``'s file is: shipped, in cnnzoo's cache, in the Hub's cache, or downloaded now.

    A download is checked while it streams and kept only if it matches; a file already
    there is not hashed here: the caller hashes the bytes it uses (:func:`verify_digest`),
    as :func:`fetch` and the weights loader do. A file of the Hugging Face Hub is taken from
    (or downloaded into) the Hub's own cache where ``huggingface_hub`` is installed
    (:mod:`~cnnzoo.weights.hfhub`), so that a timm user's copy serves.
    """
    path = cached_path(entry)
    if path.exists():
        return path
    if entry.hf_hub_id is not None and hfhub.available():
        hub_path = hfhub.hub_file(entry.hf_hub_id, entry.hf_filename, download=not hfhub.offline())
        if hub_path is not None:
            return hub_path
    if entry.url is None:
        raise WeightsError(f"the packaged weights file {path} of '{entry.tag}' is missing; reinstall cnnzoo")
    if is_offline():
        raise OfflineError(_offline_message(entry, path, "cnnzoo is offline (CNNZOO_OFFLINE is set)"))
    if path.parent.exists():
        remove_stale_temp_files(path.parent, path.name)  # of a download that was killed
    log.info("downloading %s to %s", entry.url, path)
    digest = _download(entry.url, path, entry, progress)
    if not entry.sha256:
        _trust(entry, digest)
    return path


def fetch(entry: WeightsEntry, *, progress: bool = True) -> Path:
    """The verified local file of ``entry`` (:func:`locate`, then its SHA-256 checked)."""
    path = locate(entry, progress=progress)
    verify_cached(entry, path)
    return path


def import_file(entry: WeightsEntry, source: str | os.PathLike[str]) -> Path:
    """Copy a local file into the cache under ``entry``'s name after checking its hash."""
    if entry.url is None:
        raise WeightsError(f"'{entry.tag}' ships inside the package; there is nothing to import")
    data = read_file(source)  # one read, the boundary of files in: the bytes checked are the bytes copied
    digest = hashlib.sha256(data).hexdigest()
    _check_hash(entry, digest, f"the file {source}")
    if not entry.sha256:
        # nothing to compare all the bytes with: at least make sure they read as weights
        parse(data, source)
    dest = cached_path(entry)
    _make_cache_dir()
    atomic_write(dest, data)
    if not entry.sha256:
        _trust(entry, digest)
    return dest
