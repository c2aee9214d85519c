"""Issue 7: faults during training -- kill -9 inside a save, SIGTERM, a full disk, NaN, two runs.

Already covered elsewhere and not repeated here:
- a torn ``torch.save`` leaves the old checkpoint whole and no temp file:
  test_trainer.py::test_checkpoints_are_written_atomically;
- a NaN image in epoch 2 stops with "batch 3 of epoch 2", last.pt of epoch 1 kept, lock
  released: test_trainer.py::test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint
  (here: the same through the CLI, with the optimiser step in the one line);
- SIGTERM to ``cnnzoo train`` as a process saves, prints how to resume and exits 143:
  test_trainer_dist.py::test_sigterm_saves_a_checkpoint_and_exits (here: the resumed run
  ends with the same weights as an uninterrupted one);
- a live run's lock refuses a second run, a dead run's lock is taken over:
  test_trainer.py::test_output_dir_lock_refuses_a_live_run_and_takes_over_a_dead_ones
  (here: two real ``cnnzoo train`` processes on one directory).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import cnnzoo
import cnnzoo.trainer as trainer_module
from cnnzoo import cli
from cnnzoo.errors import CheckpointError, TrainingDivergedError
from cnnzoo.train_io import SAVE_PAUSE_ENV, load_checkpoint

# deterministic and small: lenet5 on the built-in digits, 4 batches of 16 per epoch
RUN = dict(model="lenet5", batch_size=16, limit_batches=4, seed=3, deterministic=True, threads=1, workers=0,
           verbose=False, device="cpu", schedule="step", step_size=1, gamma=0.5)
RUN_ARGS = ["--model", "lenet5", "--batch-size", "16", "--limit-batches", "4", "--threads", "1", "--workers", "0",
            "--quiet", "--device", "cpu"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_kill_9_inside_a_checkpoint_save_keeps_the_previous_one(tmp_path):
    out = tmp_path / "run"
    # the test hook: every checkpoint save sleeps between its flushed temp file and the rename
    env = {**_env(), SAVE_PAUSE_ENV: "30"}
    proc = subprocess.Popen([sys.executable, "-m", "cnnzoo", "train", *RUN_ARGS, "--epochs", "3",
                             "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        # epoch 1's last.pt is paused in its temp file: kill -9 there, before any rename
        _wait_for(lambda: any(out.glob(".last.pt.*.tmp")), proc, "the first save")
        proc.kill()
        proc.wait(30)
        assert not (out / "last.pt").exists()  # nothing half-written under the real name
        # the same with a previous checkpoint: let epoch 1 finish, kill inside epoch 2's save
        proc = subprocess.Popen([sys.executable, "-m", "cnnzoo", "train", *RUN_ARGS, "--epochs", "3",
                                 "--output", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**_env(), SAVE_PAUSE_ENV: "0.5"})
        _wait_for(lambda: (out / "last.pt").exists() and any(out.glob(".last.pt.*.tmp")), proc,
                  "the second save")
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    previous = load_checkpoint(out / "last.pt")
    assert previous["epoch"] == 1 and (out / ".lock").exists()  # the dead run's lock and temp file remain
    assert any(out.glob(".last.pt.*.tmp"))
    res = cnnzoo.train(resume=out / "last.pt", verbose=False)  # takes over the stale lock, cleans up
    assert res.epochs == 3 and load_checkpoint(out / "last.pt")["epoch"] == 3
    assert not any(out.glob(".*.tmp")) and not (out / ".lock").exists()


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    full = cnnzoo.train(epochs=2, output=str(tmp_path / "full"), **RUN)

    step = trainer_module.Trainer._optimizer_step

    def step_then_sigterm(self):  # SIGTERM arrives after optimiser step 6 (epoch 2, batch 2)
        step(self)
        if self.step == 6:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(trainer_module.Trainer, "_optimizer_step", step_then_sigterm)
    stopped = cnnzoo.train(epochs=2, output=str(tmp_path / "cut"), **RUN)
    monkeypatch.undo()
    assert stopped.interrupted == "SIGTERM"
    mid = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert (mid["epoch"], mid["step"], mid["batch_in_epoch"]) == (1, 6, 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    torch.manual_seed(12345)  # the resumed run must not depend on the process's RNG
    resumed = cnnzoo.train(resume=tmp_path / "cut" / "last.pt", verbose=False)
    assert resumed.epochs == 2 and resumed.interrupted is None
    _same(load_checkpoint(full.last_checkpoint)["model"], load_checkpoint(resumed.last_checkpoint)["model"])


def test_sigterm_exit_status_and_message_from_the_cli(tmp_path, monkeypatch, capsys):
    step = trainer_module.Trainer._optimizer_step

    def step_then_sigterm(self):
        step(self)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(trainer_module.Trainer, "_optimizer_step", step_then_sigterm)
    status = cli.main(["train", *[a for a in RUN_ARGS if a != "--quiet"], "--epochs", "2",
                       "--output", str(tmp_path)])
    assert status == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2


def test_disk_full_while_saving_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real_save = torch.save

    def save_until_full(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2 and "optimizer" in obj:  # epoch 2's last.pt
            f.write(b"PK\x03\x04 the first bytes")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(CheckpointError, match="No space left on device; the previous last.pt is kept"):
        cnnzoo.train(epochs=3, output=str(tmp_path / "api"), **RUN)
    status = cli.main(["train", *RUN_ARGS, "--epochs", "3", "--output", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "No space left on device" in err and "another --output" in err
    monkeypatch.undo()
    for run in ("api", "cli"):
        d = tmp_path / run
        assert load_checkpoint(d / "last.pt")["epoch"] == 1
        assert not any(d.glob(".*.tmp")) and not (d / ".lock").exists()


def test_nan_loss_from_the_cli_names_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    loss_of = trainer_module.compute_loss
    calls = {"n": 0}

    def nan_at_call_7(*args, **kwargs):  # epoch 2, batch 3 (4 batches per epoch)
        calls["n"] += 1
        loss = loss_of(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(trainer_module, "compute_loss", nan_at_call_7)
    status = cli.main(["train", *RUN_ARGS, "--epochs", "3", "--log-every", "100", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "batch 3 of epoch 2 (optimiser step 7)" in err and "last good checkpoint" in err
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    with pytest.raises(TrainingDivergedError):
        calls["n"] = 0
        cnnzoo.train(epochs=3, output=str(tmp_path / "api"), **RUN)


def test_two_runs_into_one_directory_are_never_interleaved(tmp_path):
    out = tmp_path / "shared"
    cmd = [sys.executable, "-m", "cnnzoo", "train", *RUN_ARGS, "--epochs", "1", "--output", str(out)]
    # the first run is kept inside its saves (6 s each, last.pt then best.pt) while the second starts
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**_env(), SAVE_PAUSE_ENV: "6"})
    try:
        _wait_for(lambda: any(out.glob(".last.pt.*.tmp")), first, "the first run's save")
        second = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [second.stderr.strip()]
        assert "in use by another run" in second.stderr and f"pid {first.pid}" in second.stderr
        _, first_err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
    assert first.returncode == 0, first_err
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["epoch"] == 1 and [r["epoch"] for r in ckpt["history"]] == [1]
    assert len((out / "metrics.csv").read_text().splitlines()) == 2
