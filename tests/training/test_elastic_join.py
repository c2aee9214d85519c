"""A node that joins a running elastic torchrun job, proven with real agents and workers (gloo on localhost).

torchrun counts no restart when a node joins ("membership changes do not count as retries"): the
workers of the new round know their job by its id (``--rdzv-id``), which every checkpoint records.
torch 2.14.1's c10d rendezvous hangs a join while its agents share one TCP store across rounds (the
node that joins waits for a store address that the agent of rank 0 wrote only in the first round), so
the agents run with ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``, which docs/training.md tells users to set.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_elastic_nodes import LIMIT, TRAIN, _env, _free_port

from cnnzoo.training.outputs import load_checkpoint, newest_checkpoint

WORKER = Path(__file__).with_name("elastic_join_worker.py")
HOLD = 4  # the step at which the job, alone, waits for the node that joins
BATCH = 16

pytestmark = pytest.mark.slow  # two torchrun agents, three workers, each a Python process that imports torch


def _agent(out: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1:2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-id",
        "cnnzoo-join",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        # a round may start with one node (the first waits 1 s for more); the waits are long for a busy machine
        "--rdzv-conf",
        f"join_timeout={LIMIT},last_call_timeout=1,keep_alive_interval=1,keep_alive_max_attempt=30",
        "--monitor-interval",
        "0.2",
        str(WORKER),
        str(HOLD),
        str(LIMIT),
        "--",
        *TRAIN[:-1],  # not --quiet: the data and world size lines are read
        "--save-every",
        "2",
        "--dist-timeout",
        "120",
        "--output",
        str(out),
    ]


def test_a_node_joining_a_running_job_continues_it_with_two_processes(tmp_path):
    out, port = tmp_path / "run", _free_port()
    kw = dict(
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1"),
        start_new_session=True,
    )
    t0 = time.monotonic()
    agents = [subprocess.Popen(_agent(out, port), **kw)]
    try:
        deadline = time.monotonic() + LIMIT
        while not list(out.glob("step-*.pt")):  # the job runs alone (it holds at step HOLD until the join)
            assert agents[0].poll() is None, agents[0].communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"no checkpoint after {LIMIT} s"
            time.sleep(0.05)
        agents.append(subprocess.Popen(_agent(out, port), **kw))
        done = [p.communicate(timeout=LIMIT) for p in agents]
    finally:
        for p in agents:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    seconds = time.monotonic() - t0
    stdout, stderr = "".join(o for o, _ in done), "".join(e for _, e in done)
    assert [p.returncode for p in agents] == [0, 0], stderr[-3000:]
    # the job alone: its agent stopped it for the join (SIGTERM), and it saved where it was
    assert re.findall(r"^rank 0 step (\d+) exit (\d+)$", done[0][0], re.M)[0] == (str(HOLD), "143"), done[0][0]
    stopped = float(re.search(r"^rank 0 world 1 stopped at ([\d.]+)$", stdout, re.M)[1])
    # the new round, restart count still 0, continues from that checkpoint: no step lost
    resumed = re.search(
        rf"^cnnzoo: torchrun job 'cnnzoo-join' met again \(a node joined, or the job was started anew\): "
        rf"continuing from {re.escape(str(out))}/(last|step-\d+)\.pt \(step (\d+), (\d+) batches into epoch 1\)$",
        stderr,
        re.M,
    )
    assert resumed and int(resumed[2]) == int(resumed[3]) == HOLD, stderr[-3000:]
    seen = HOLD * BATCH  # the first HOLD x 16 x 1 of the epoch's order
    assert re.search(
        rf"^world size 1 -> 2: global batch {BATCH} -> {2 * BATCH} \({BATCH} per process\), learning rate 0\.05 kept "
        rf"\(not rescaled\), .*; the rest of epoch 1 \(after {seen} samples\) is dealt out to 2 processes, none "
        r"repeated or skipped$",
        stdout,
        re.M,
    ), stdout
    firsts = [float(t) for t in re.findall(rf"^rank [01] world 2 first step {HOLD + 1} at ([\d.]+)$", stdout, re.M)]
    assert len(firsts) == 2, stdout
    assert sorted(re.findall(r"^rank (\d) step \d+ exit 0$", stdout, re.M)) == ["0", "1"], stdout
    images = int(re.search(r"^data: ([\d,]+) training images", stdout, re.M)[1].replace(",", ""))
    batches = -(-(images - seen) // 2) // BATCH  # the rest of the order in equal shares, whole batches of each
    path, state = newest_checkpoint(out)
    assert path == out / "last.pt"
    assert (state["epoch"], state["batch_in_epoch"], state["world_size"]) == (1, 0, 2)
    assert (state["step"], state["elastic_run_id"]) == (HOLD + batches, "cnnzoo-join")
    row = state["history"][0]  # the epoch's images, the part before the join included
    assert round(row["images_per_s"] * row["seconds"]) == seen + batches * BATCH * 2
    assert load_checkpoint(out / "best.pt")["step"] == HOLD + batches
    print(f"join test: {seconds:.0f} s; the join paused training {min(firsts) - stopped:.1f} s, 0 steps lost")
