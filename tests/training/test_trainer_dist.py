"""Several processes (DDP over gloo) and signals, each in real separate processes."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
import torch.multiprocessing as mp

import cnnzoo
from cnnzoo.training.outputs import load_checkpoint

# LeNet-5 has neither BatchNorm nor dropout, so a step's gradient depends only on the images
# of the step: with the same global batch, two processes that average their gradients (DDP)
# take exactly the steps of one process, up to the order of float additions. (With BN each
# process would normalise by its own half batch, and the runs would differ unless SyncBN.)
RUN = dict(model="lenet5", epochs=2, limit_batches=4, lr=0.05, seed=0, verbose=False, device="cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    cnnzoo.train(batch_size=16, output=out, **RUN)


@pytest.mark.slow  # two processes importing torch: ~20 s on 2 busy cores
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    single = cnnzoo.train(batch_size=32, output=str(tmp_path / "one"), **RUN)
    ddp, one = (load_checkpoint(tmp_path / d / "last.pt") for d in ("ddp", "one"))
    assert ddp["step"] == one["step"] == 8
    for k in one["model"]:
        torch.testing.assert_close(ddp["model"][k], one["model"][k], rtol=1e-4, atol=1e-5)
    # validation is split over the processes and its sums all-reduced: the same metrics
    assert ddp["history"][-1]["val_top1"] == pytest.approx(single.history[-1]["val_top1"], abs=0.3)
    assert not (tmp_path / "ddp" / ".lock").exists()


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "cnnzoo",
        "train",
        "--model",
        "lenet5",
        "--epochs",
        "1000",
        "--output",
        str(out),
        "--log-every",
        "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / "config.yaml").exists():  # written when training starts
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (143, 0), stderr
    assert "stopped by SIGTERM" in stdout and "--resume" in stdout
    assert stdout.strip().splitlines()[-1].startswith("best val top-1")
    assert not (out / ".lock").exists()
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["step"] >= 1
    # the saved position resumes (here: finishing the epoch it was stopped in)
    epochs_done = ckpt["epoch"] + 1
    res = cnnzoo.train(resume=out / "last.pt", epochs=epochs_done, verbose=False)
    assert res.epochs == epochs_done and res.output_dir == out


def _refused_worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    try:
        cnnzoo.train(batch_size=16, output=out, **{**RUN, "epochs": 1})
    except cnnzoo.errors.OutputDirError as e:
        with open(os.path.join(out, f"refused.{rank}"), "w") as f:
            f.write(str(e))


@pytest.mark.slow  # two processes importing torch
def test_a_refused_run_directory_stops_every_process(tmp_path):
    # only the main process looks at the directory; the other must stop with it, not wait forever
    out = tmp_path / "run"
    cnnzoo.train(batch_size=32, output=str(out), **{**RUN, "epochs": 1})
    ctx = mp.start_processes(
        _refused_worker, args=(2, _free_port(), str(out)), nprocs=2, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 120
    try:
        while not ctx.join(timeout=5):
            assert time.monotonic() < deadline, "a process waits for the refused main process"
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    assert "holds the results of a previous run" in (out / "refused.0").read_text()
    assert "the main process (rank 0) could not open the run directory" in (out / "refused.1").read_text()
