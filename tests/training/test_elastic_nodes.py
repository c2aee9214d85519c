"""Nodes that leave, change or disagree, proven with real processes (gloo on localhost).

The torchrun tests start real agents and workers (``elastic_worker.py`` is ``cnnzoo train`` that
prints its last step); the others start ``cnnzoo train`` processes with torchrun's environment
variables set by hand, which is what each worker of a torchrun job sees.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnzoo.training.outputs import load_checkpoint

WORKER = Path(__file__).with_name("elastic_worker.py")
# LeNet-5 on the digits with one thread a process: a step takes milliseconds, startup is most of a test
TRAIN = [
    "--model",
    "lenet5",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--threads",
    "1",
    "--workers",
    "0",
    "--deterministic",
    "--log-every",
    "1",
    "--device",
    "cpu",
    "--quiet",
]
_PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
LIMIT = 400  # seconds any one process may take on a loaded machine before the test fails instead of hanging

pytestmark = pytest.mark.slow  # each test starts two or more Python processes that import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (torchrun starts each worker in a session of its own)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _wait_for(path_glob: tuple[Path, str], procs: list[subprocess.Popen[str]]) -> None:
    folder, pattern = path_glob
    deadline = time.monotonic() + LIMIT
    while not list(folder.glob(pattern)):
        assert all(p.poll() is None for p in procs), "a process ended before the checkpoint appeared"
        assert time.monotonic() < deadline, f"no {pattern} in {folder} after {LIMIT} s"
        time.sleep(0.05)


def _listener(port: int) -> int | None:
    """The process that accepts connections on ``port`` (the agent that serves the rendezvous store)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{cols[9]}]")
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) in inodes:
                return int(fd.parent.parent.name)
        except OSError:
            continue
    return None


def _world_of_newest(out: Path) -> int | None:
    """The world size of the newest step-N.pt in ``out`` (None while there is none)."""
    for path in sorted(out.glob("step-*.pt"), reverse=True):
        try:
            return int(load_checkpoint(path)["world_size"])
        except Exception:  # pruned or still being renamed into place: look again
            continue
    return None


def test_one_of_two_elastic_nodes_killed_for_good_the_other_finishes(tmp_path):
    out, port = tmp_path / "run", _free_port()
    agent = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1:2",
        "--nproc-per-node",
        "1",
        "--max-restarts",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-id",
        "cnnzoo-nodes",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        # the first round waits for both nodes (they start together); a node silent for 2 s is gone
        "--rdzv-conf",
        "last_call_timeout=5,keep_alive_interval=1,keep_alive_max_attempt=2",
        "--monitor-interval",
        "0.2",
        str(WORKER),
        "-",
        "--",
        *TRAIN[:-1],  # not --quiet: the world size line is part of what is checked
        "--limit-batches",
        "30",
        "--save-every",
        "2",
        "--dist-timeout",
        "30",
        "--output",
        str(out),
    ]
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
    agents = [subprocess.Popen(agent, **kw) for _ in range(2)]
    try:
        deadline = time.monotonic() + LIMIT
        while _world_of_newest(out) != 2:  # both nodes train together
            assert all(p.poll() is None for p in agents), [p.communicate()[1][-2000:] for p in agents]
            assert time.monotonic() < deadline, f"no checkpoint of two processes after {LIMIT} s"
            time.sleep(0.05)
        # c10d's store lives in the agent that bound the endpoint first: the node that goes is the other
        host_pid = _listener(port)
        assert host_pid in [p.pid for p in agents]
        host, other = sorted(agents, key=lambda p: p.pid != host_pid)
        workers = _children(other.pid)
        os.killpg(other.pid, signal.SIGKILL)  # the node goes: its agent, then its worker
        for w in workers:
            os.kill(w, signal.SIGKILL)
        other.communicate(timeout=LIMIT)
        stdout, stderr = host.communicate(timeout=LIMIT)
    finally:
        for p in agents:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert host.returncode == 0, stderr[-3000:]
    # its worker failed on the lost peer; torchrun's one restart met alone and resumed the newest checkpoint
    resumed = re.search(
        rf"^cnnzoo: torchrun restart 1: continuing from {re.escape(str(out))}/step-(\d+).pt "
        r"\(step (\d+), (\d+) batches into epoch 1\)$",
        stderr,
        re.M,
    )
    assert resumed, stderr[-3000:]
    step = int(resumed[2])
    assert re.search(
        rf"^world size 2 -> 1: global batch 32 -> 16 \(16 per process\), .*the rest of epoch 1 \(after {step * 32} "
        r"samples\) is dealt out to 1 processes, none repeated or skipped$",
        stdout,
        re.M,
    ), stdout
    assert stdout.rstrip().endswith("exit 0")
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["world_size"]) == (1, 0, 1)
    assert state["step"] > step
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt"} <= {p.name for p in out.iterdir()}
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # the header and epoch 1


def _cnnzoo(args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnzoo", "train", *TRAIN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """Each process's exit status, stdout and stderr; a process still running after LIMIT seconds fails the test."""
    try:
        outputs = [p.communicate(timeout=LIMIT) for p in procs]
        return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _one_error_line(code: int, err: str) -> str:
    """The error a refused process printed: exit status 2, no traceback, its last line the reason."""
    assert code == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("cnnzoo train: error: "), err[-3000:]
    return line.removeprefix("cnnzoo train: error: ")


def _as_two_processes(tmp_path: Path, rank0: list[str], rank1: list[str]) -> list[tuple[int, str, str]]:
    """``cnnzoo train`` as ranks 0 and 1 of a two-process run, with the variables torchrun would set."""
    port = str(_free_port())
    procs = [
        _cnnzoo(
            args,
            RANK=str(rank),
            LOCAL_RANK="0",
            WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )
        for rank, args in enumerate([rank0, rank1])
    ]
    return _finish(procs)


@pytest.mark.parametrize(
    ("rank0", "rank1", "differs"),
    [
        (
            ["--batch-size", "16"],
            ["--model", "alexnet", "--batch-size", "8"],
            # what the model decides follows it (its input size and channels), each said
            r"--model 'lenet5' on rank 0, 'alexnet' on rank 1; --input-size 32 on rank 0, \d+ on rank 1; "
            r"--in-chans 1 on rank 0, 3 on rank 1; --batch-size 16 on rank 0, 8 on rank 1",
        ),
        (["--output", "{tmp}/a"], ["--output", "{tmp}/b"], r"--output '\S+/a' on rank 0, '\S+/b' on rank 1"),
        (
            ["--data", "{tmp}/cat-dog"],
            ["--data", "{tmp}/cat-fox"],
            r"classes \['cat', 'dog'\] on rank 0, \['cat', 'fox'\] on rank 1",
        ),
    ],
    ids=["model-and-batch", "output", "classes"],
)
def test_processes_started_with_different_settings_refuse_in_one_line(tmp_path, rank0, rank1, differs):
    from helpers import image_folder

    image_folder(tmp_path / "cat-dog", ("cat", "dog"))
    image_folder(tmp_path / "cat-fox", ("cat", "fox"))
    out = tmp_path / "run"
    args = [[a.format(tmp=tmp_path) for a in given] for given in (rank0, rank1)]
    done = _as_two_processes(tmp_path, *[["--output", str(out), *given] for given in args])
    lines = [_one_error_line(code, err) for code, _, err in done]
    assert lines[0] == lines[1]  # every process says the same
    assert re.fullmatch(
        rf"the 2 processes were started with different settings: {differs}; start every process with the same "
        r"command, data \(the same classes and images\) and --output",
        lines[0],
    ), lines[0]
    assert not out.exists() and not (tmp_path / "a").exists()  # refused before anything was written


@pytest.mark.parametrize("rank", [0, 1], ids=["rank-0-alone", "rank-1-no-server"])
def test_a_rendezvous_nobody_answers_fails_in_one_line_within_the_timeout(tmp_path, rank):
    port = _free_port()  # nothing listens there
    t0 = time.monotonic()
    [(code, _, err)] = _finish(
        [
            _cnnzoo(
                ["--dist-timeout", "3", "--output", str(tmp_path / "run")],
                RANK=str(rank),
                LOCAL_RANK="0",
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
            )
        ]
    )
    line = _one_error_line(code, err)
    assert re.fullmatch(
        rf"process {rank} of 2 could not meet the others at 127\.0\.0\.1:{port} within 3 s \(.+\); check that "
        r"every process was started and that rank 0's address can be reached from here, or wait longer "
        r"\(--dist-timeout\)",
        line,
    ), line
    # startup (importing torch on a busy machine) plus the timeout, which torch's client retries once
    assert time.monotonic() - t0 < 120


def test_world_size_without_master_addr_is_refused_in_one_line(tmp_path):
    [(code, _, err)] = _finish([_cnnzoo(["--output", str(tmp_path / "run")], RANK="0", WORLD_SIZE="2")])
    assert _one_error_line(code, err) == (
        "WORLD_SIZE=2 asks for 2 processes, but MASTER_ADDR and MASTER_PORT are not set: start the processes "
        "with torchrun (it sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT), or set all four; unset "
        "WORLD_SIZE for one process"
    )


def _torchrun(nproc: int, fault: str, args: list[str]) -> list[str]:
    """One torchrun "node" of ``nproc`` workers (``elastic_worker.py``, with ``fault``) on a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{_free_port()}",
        str(WORKER),
        fault,
        "--",
        *TRAIN[:-1],  # not --quiet: the data and world size lines are read
        "--dist-timeout",
        "60",
        *args,
    ]


@pytest.mark.parametrize(("before", "after"), [(2, 1), (1, 2)], ids=["2-to-1", "1-to-2"])
def test_an_epoch_stopped_by_some_processes_is_finished_by_another_number(tmp_path, before, after):
    out, batch = tmp_path / "run", 16
    [(code, stopped, err)] = _finish(
        [subprocess.Popen(_torchrun(before, "0:5:TERM", ["--output", str(out)]), **_PIPES, env=_env())]
    )
    assert code != 0 and re.findall(r"^rank \d+ step (\d+) exit (\d+)$", stopped, re.M) == [("5", "143")] * before
    seen = 5 * batch * before  # the first 5 x B x W of the epoch's order
    assert load_checkpoint(out / "last.pt")["partial"][2] == seen
    [(code, resumed, err)] = _finish(
        [subprocess.Popen(_torchrun(after, "-", ["--resume", str(out / "last.pt")]), **_PIPES, env=_env())]
    )
    assert code == 0, err[-3000:]
    assert re.search(
        rf"^world size {before} -> {after}: global batch {batch * before} -> {batch * after} \({batch} per process\), "
        rf"learning rate 0\.05 kept \(not rescaled\), .*; the rest of epoch 1 \(after {seen} samples\) is dealt out "
        rf"to {after} processes, none repeated or skipped$",
        resumed,
        re.M,
    ), resumed
    images = int(re.search(r"^data: ([\d,]+) training images", resumed, re.M)[1].replace(",", ""))
    # the rest of the order, padded to equal shares, in whole batches (drop_last) of each process
    batches = -(-(images - seen) // after) // batch
    state = load_checkpoint(out / "last.pt")
    assert (state["epoch"], state["batch_in_epoch"], state["step"]) == (1, 0, 5 + batches)
    row = state["history"][0]  # the epoch's images, the stopped part's included, over its seconds
    assert round(row["images_per_s"] * row["seconds"]) == seen + batches * batch * after
