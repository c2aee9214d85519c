"""The processes of one run compare their settings before the first collective (one line naming what differs)."""

from __future__ import annotations

import pytest

from cnnzoo.errors import ConfigError
from cnnzoo.training import distributed
from cnnzoo.training.distributed import DistInfo, check_same_settings


def _sent(monkeypatch, settings: dict) -> object:
    """What one process sends to the others for ``settings``."""
    sent = []
    monkeypatch.setattr(distributed, "gather_objects", lambda obj, info: sent.append(obj) or [obj])
    check_same_settings(settings, DistInfo(0, 2))
    return sent[0]


def _check(monkeypatch, every: list[dict], rank: int) -> None:
    """``check_same_settings`` in process ``rank`` of a run whose processes have the settings ``every``."""
    sent = [_sent(monkeypatch, s) for s in every]
    monkeypatch.setattr(distributed, "gather_objects", lambda obj, info: sent)
    check_same_settings(every[rank], DistInfo(rank, len(every)))


def test_processes_that_agree_pass_and_one_process_sends_nothing(monkeypatch):
    same = {"--batch-size": 16, "--model-kwargs": {"a": 1, "b": 2}, "classes": ["cat", "dog"]}
    reordered = {**same, "--model-kwargs": {"b": 2, "a": 1}}  # a mapping read elsewhere in another order
    _check(monkeypatch, [same, reordered, same], rank=2)
    monkeypatch.setattr(distributed, "gather_objects", lambda obj, info: pytest.fail("one process gathered"))
    check_same_settings(same, DistInfo())


@pytest.mark.parametrize("rank", [0, 1, 2])
def test_each_setting_that_differs_is_named_with_its_value_on_each_rank(monkeypatch, rank):
    classes = [f"c{i}" for i in range(10)]
    every = [
        {"--batch-size": 16, "--output": "/runs/a", "classes": classes},
        {"--batch-size": 8, "--output": "/runs/a", "classes": classes},
        {"--batch-size": 16, "--output": "/runs/a", "classes": classes[:9] + ["other"]},
    ]
    with pytest.raises(ConfigError) as e:
        _check(monkeypatch, every, rank)
    first, other = (distributed._digest(c)[:8] for c in (classes, every[2]["classes"]))
    assert str(e.value) == (  # the same words in every process; lists alike at first sight by their digests
        "the 3 processes were started with different settings: --batch-size 16 on ranks 0, 2, 8 on rank 1; "
        f"classes 10 [c0, c1, c2, ...] (digest {first}) on ranks 0, 1, 10 [c0, c1, c2, ...] (digest {other}) "
        "on rank 2; start every process with the same command, data (the same classes and images) and --output"
    )
