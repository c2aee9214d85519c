"""Faults during training -- kill -9 inside a save, SIGTERM, a full disk, NaN, two runs.

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

import pytest
import torch

import cnnzoo
import cnnzoo.training.run
from cnnzoo import cli
from cnnzoo.errors import CheckpointError, TrainingDivergedError
from cnnzoo.training.outputs import load_checkpoint

# deterministic and small: lenet5 on the built-in digits, 4 batches of 16 per epoch
RUN = dict(
    model="lenet5",
    batch_size=16,
    limit_batches=4,
    seed=3,
    deterministic=True,
    threads=1,
    workers=0,
    verbose=False,
    device="cpu",
    schedule="step",
    step_size=1,
    gamma=0.5,
)
RUN_ARGS = [
    "--model",
    "lenet5",
    "--batch-size",
    "16",
    "--limit-batches",
    "4",
    "--threads",
    "1",
    "--workers",
    "0",
    "--quiet",
    "--device",
    "cpu",
]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


# `cnnzoo train` in a child process on a slow disk: the rename that ends every checkpoint
# save waits PAUSE seconds (or, for "@FILE", until FILE exists), so the test can act while
# the save's temporary file exists
_SLOW_DISK = """
import os, sys, time
rename = os.replace
def slow_rename(src, dst, *args, **kwargs):
    if str(dst).endswith(".pt"):
        pause = sys.argv[1]
        if pause.startswith("@"):
            deadline = time.monotonic() + 120
            while not os.path.exists(pause[1:]) and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            time.sleep(float(pause))
    return rename(src, dst, *args, **kwargs)
os.replace = slow_rename
from cnnzoo.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _train_on_slow_disk(pause: float | str, *argv: str) -> list[str]:
    return [sys.executable, "-c", _SLOW_DISK, str(pause), "train", *argv]


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


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_kill_9_inside_a_checkpoint_save_keeps_the_previous_one(tmp_path):
    out = tmp_path / "run"
    # every checkpoint save sleeps between its flushed temp file and the rename
    proc = subprocess.Popen(
        _train_on_slow_disk(30, *RUN_ARGS, "--epochs", "3", "--output", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    try:
        # epoch 1's last.pt is paused in its temp file: kill -9 there, before any rename
        _wait_for(lambda: any(out.glob(".last.pt.*.tmp")), proc, "the first save")
        proc.kill()
        proc.wait(30)
        assert not (out / "last.pt").exists()  # nothing half-written under the real name
        # the same with a previous checkpoint: let epoch 1 finish, kill inside epoch 2's save
        proc = subprocess.Popen(
            _train_on_slow_disk(0.5, *RUN_ARGS, "--epochs", "3", "--output", str(out)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        _wait_for(lambda: (out / "last.pt").exists() and any(out.glob(".last.pt.*.tmp")), proc, "the second save")
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


def _sigterm_after(step: int):
    """A step hook: SIGTERM arrives right after optimiser step ``step``."""

    def hook(trainer):
        if trainer.step == step:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def test_sigterm_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    full = cnnzoo.train(epochs=2, output=str(tmp_path / "full"), **RUN)
    # SIGTERM after optimiser step 6 (epoch 2, batch 2)
    stopped = cnnzoo.train(epochs=2, output=str(tmp_path / "cut"), on_step=_sigterm_after(6), **RUN)
    assert stopped.interrupted == "SIGTERM"
    mid = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert (mid["epoch"], mid["step"], mid["batch_in_epoch"]) == (1, 6, 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    torch.manual_seed(12345)  # the resumed run must not depend on the process's RNG
    resumed = cnnzoo.train(resume=tmp_path / "cut" / "last.pt", verbose=False)
    assert resumed.epochs == 2 and resumed.interrupted is None
    _same(load_checkpoint(full.last_checkpoint)["model"], load_checkpoint(resumed.last_checkpoint)["model"])


def test_sigterm_exit_status_and_message_from_the_cli(tmp_path, monkeypatch, capsys):
    # the CLI's trainer gets the hook the way a user's wrapper script would pass one
    real_train = cnnzoo.training.run.train
    monkeypatch.setattr(cnnzoo.training, "train", lambda **kw: real_train(on_step=_sigterm_after(2), **kw))
    status = cli.main(["train", *[a for a in RUN_ARGS if a != "--quiet"], "--epochs", "2", "--output", str(tmp_path)])
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


def _nan_weights_after(step: int):
    """A step hook that makes the weights NaN after optimiser step ``step``: the next loss is NaN."""

    def hook(trainer):
        if trainer.step == step:
            with torch.no_grad():
                trainer.model.get_classifier().weight.fill_(float("nan"))

    return hook


def test_nan_loss_from_the_cli_names_the_step_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    # NaN weights after step 6 (epoch 2, batch 2 of 4): the loss of batch 3 is the first NaN
    real_train = cnnzoo.training.run.train
    monkeypatch.setattr(cnnzoo.training, "train", lambda **kw: real_train(on_step=_nan_weights_after(6), **kw))
    status = cli.main(["train", *RUN_ARGS, "--epochs", "3", "--log-every", "100", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "batch 3 of epoch 2 (optimiser step 7)" in err and "last good checkpoint" in err
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    monkeypatch.undo()  # cnnzoo.train resolves lazily: alone, it would find the patched one
    with pytest.raises(TrainingDivergedError, match="batch 3 of epoch 2"):
        cnnzoo.train(epochs=3, output=str(tmp_path / "api"), on_step=_nan_weights_after(6), **RUN)


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_two_runs_into_one_directory_are_never_interleaved(tmp_path):
    out = tmp_path / "shared"
    cmd = [sys.executable, "-m", "cnnzoo", "train", *RUN_ARGS, "--epochs", "1", "--output", str(out)]
    # the first run is held inside its first save until the second run has tried and ended
    release = tmp_path / "release"
    first = subprocess.Popen(
        _train_on_slow_disk(f"@{release}", *cmd[4:]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        _wait_for(lambda: any(out.glob(".last.pt.*.tmp")), first, "the first run's save")
        second = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
        release.touch()
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
