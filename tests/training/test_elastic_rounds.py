"""The number of a round of workers in the store torchrun's agent keeps across rounds (no processes: a real
TCPStore in this process, one thread per worker, each with its own client).

Every worker of a round must read the same number and each round a new one, whatever torchrun's restart
counts say and whatever a previous round left half done in the store.
"""

import datetime
import json
import threading
import time

import pytest
from torch.distributed import DistStoreError, PrefixStore, TCPStore

from cnnzoo.training.distributed import _round_number

WAIT = datetime.timedelta(seconds=20)  # a wrong protocol fails the test (DistStoreError) instead of hanging it


@pytest.fixture(scope="module", params=[True, False], ids=["libuv", "legacy"])
def server(request):
    """The agent's store server: torch's default (libuv) or the older one (USE_LIBUV=0)."""
    return TCPStore("127.0.0.1", 0, is_master=True, timeout=WAIT, wait_for_workers=False, use_libuv=request.param)


@pytest.fixture(scope="module")
def clients(server):
    """One client of the server per rank, kept: rounds follow one another, and torch's client waits 5 s to
    connect once a server has seen some twenty connections."""
    return {}


@pytest.fixture
def connect(server, clients, request):
    """A client for ``rank`` of a store of this test's own (a prefix in the module's server); with ``timeout``
    a new one whose waits end after it."""

    def client(rank, timeout=None):
        if timeout is not None:
            return PrefixStore(request.node.name, TCPStore("127.0.0.1", server.port, is_master=False, timeout=timeout))
        if rank not in clients:
            clients[rank] = TCPStore("127.0.0.1", server.port, is_master=False, timeout=WAIT)
        return PrefixStore(request.node.name, clients[rank])

    return client


def _round(connect, world, early=()):
    """The number each rank of a round of ``world`` reads; the ranks ``early`` start half a second before the
    others, to read what the previous round left before this round's rank 0 comes."""
    got, errors = {}, []

    def worker(rank):
        try:
            got[rank] = _round_number(connect(rank), rank, world)
        except Exception as e:  # noqa: BLE001 (reported by the test)
            errors.append(e)

    threads = {rank: threading.Thread(target=worker, args=(rank,)) for rank in range(world)}
    for rank in early:
        threads[rank].start()
    time.sleep(0.5 if early else 0)  # not a synchronisation: a head start that makes the early ones read first
    for rank, t in threads.items():
        if rank not in early:
            t.start()
    for t in threads.values():
        t.join(WAIT.total_seconds() * 2)
    assert not errors and all(not t.is_alive() for t in threads.values()), errors
    return got


def test_each_round_has_a_number_of_its_own_when_the_world_size_changes(connect):
    numbers = []
    for world in (2, 3, 2, 2, 4):
        got = _round(connect, world)
        assert len(set(got.values())) == 1 and len(got) == world, got
        numbers.append(got[0])
    assert numbers == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "left",
    [
        [2, 2, [0]],  # rank 0 opened it, rank 1 never came (its worker died while starting)
        [2, 2, [0, 1]],  # full, but rank 0 died before it said go
        [2, 3, [0, 1]],  # another size
    ],
    ids=["a-rank-missing", "no-go", "other-size"],
)
def test_a_round_left_unfinished_is_not_taken_for_the_next(connect, left):
    assert set(_round(connect, 2).values()) == {1}
    connect("test").set("cnnzoo/rounds/open", json.dumps(left))  # what the workers of round 2 left
    assert _round(connect, 2, early=[1]) == {0: 3, 1: 3}


def test_a_finished_round_is_not_taken_for_the_next(connect):
    assert set(_round(connect, 3).values()) == {1}
    assert set(_round(connect, 3).values()) == {2}
    # ranks 1 and 2 of round 3 read round 2, full and said go, before round 3's rank 0 opens it
    assert _round(connect, 3, early=[1, 2]) == {0: 3, 1: 3, 2: 3}


def test_a_round_that_a_rank_never_entered_ends_at_the_timeout_and_is_not_taken_for_the_next(connect):
    assert set(_round(connect, 2).values()) == {1}
    with pytest.raises(DistStoreError, match="wait timeout"):  # round 2's rank 1 died before it entered
        _round_number(connect(0, timeout=datetime.timedelta(seconds=1)), 0, 2)
    assert _round(connect, 2, early=[1]) == {0: 3, 1: 3}
