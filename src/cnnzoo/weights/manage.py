"""What ``cnnzoo weights`` does: list and inspect the catalogue, download and import files."""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import UnknownWeightsError
from . import cache
from .catalogue import CATALOGUE, WeightsEntry, get_entry
from .load import label_names

__all__ = ["list_weights", "weights_info", "download_weights", "import_weights"]


def _row(entry: WeightsEntry) -> dict[str, Any]:
    return {
        "tag": entry.tag,
        "architecture": entry.architecture,
        "source": entry.source,
        "default": entry.default,
        "dataset": entry.dataset,
        "top1": entry.top1,
        "top5": entry.top5,
        "size_mb": entry.size_mb,
        "hash_status": entry.hash_status,
        "cached": cache.cached_file(entry) is not None,
        "url": entry.url,
        "license": entry.license,
    }


def list_weights(pattern: str = "*") -> list[dict[str, Any]]:
    """Catalogue entries whose tag or model name matches the wildcard ``pattern``.

    Each row: tag, architecture, source, default, dataset, top1/top5 (published, percent;
    None where not published), size_mb, hash_status ('sha256', 'prefix' or 'tofu'),
    cached, url, license.
    """
    return [
        _row(e)
        for e in CATALOGUE.values()
        if fnmatch.fnmatchcase(e.tag, pattern) or fnmatch.fnmatchcase(e.architecture, pattern)
    ]


def weights_info(tag: str) -> dict[str, Any]:
    """Everything the catalogue says about one tag (or a model's default tag), plus the
    cache path and whether the file is there."""
    entry = get_entry(tag)
    record = dataclasses.asdict(entry)
    local = cache.cached_file(entry)
    record.update(
        hash_status=entry.hash_status,
        path=str(local or cache.cached_path(entry)),
        cached=local is not None,
        num_labels=len(label_names(entry)),
    )
    return record


def download_weights(tags: str | Iterable[str], *, progress: bool = True) -> list[Path]:
    """Download (or verify in the cache) weights: tags, model names (their default tag) or
    wildcards over tags (``"resnet*"``; ``"*"`` is the whole catalogue). Returns the paths."""
    names = [tags] if isinstance(tags, str) else list(tags)
    entries: list[WeightsEntry] = []
    for name in names:
        if any(c in name for c in "*?["):
            matched = [e for e in CATALOGUE.values() if fnmatch.fnmatchcase(e.tag, name)]
            if not matched:
                raise UnknownWeightsError(f"no weight tag matches '{name}' (cnnzoo weights list)")
            entries += matched
        else:
            entries.append(get_entry(name))
    unique = {e.tag: e for e in entries}  # each file once, in the order asked
    return [cache.fetch(e, progress=progress) for e in unique.values()]


def import_weights(tag: str, file: str | os.PathLike[str]) -> Path:
    """Put a local copy of a catalogued file into the cache, after checking its hash, for
    machines that cannot download. Returns the cache path."""
    return cache.import_file(get_entry(tag), file)
