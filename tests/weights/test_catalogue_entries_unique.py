"""The catalogue is data checked by tests, not at import: every entry has a tag of its own (a second entry
under one tag would silently replace the first in CATALOGUE), and every pinned SHA-256 starts with the
hash prefix its file name publishes."""

from __future__ import annotations

import collections

from cnnzoo.weights import catalogue


def test_no_two_entries_share_a_tag():
    counts = collections.Counter(e.tag for e in catalogue._ENTRIES)
    assert [tag for tag, n in counts.items() if n > 1] == []
    assert len(catalogue.CATALOGUE) == len(catalogue._ENTRIES) > 0


def test_pinned_hashes_start_with_their_file_names_prefix():
    pinned = [e for e in catalogue._ENTRIES if e.sha256 and e.hash_prefix]
    assert pinned, "the catalogue pins some full hashes of files whose names carry a prefix"
    assert [e.tag for e in pinned if not e.sha256.startswith(e.hash_prefix)] == []
    # the prefix is the one the file name publishes (``resnet50-0676ba61.pth``)
    assert all(e.filename.rsplit("-", 1)[1].split(".")[0] == e.hash_prefix for e in pinned)
