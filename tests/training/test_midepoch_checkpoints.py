"""Checkpoints during an epoch (--save-every, --save-every-minutes, --keep-last) and the newest complete one."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import cnnzoo
from cnnzoo.data.sampling import EpochSampler
from cnnzoo.errors import ConfigError
from cnnzoo.training.config import TrainConfig, add_config_options
from cnnzoo.training.outputs import load_checkpoint, newest_checkpoint
from cnnzoo.training.trainer import Trainer


def _tiny_trainer(out, resume=None, **cfg):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g))
    loader = DataLoader(data, batch_size=4, sampler=EpochSampler(40, shuffle=True, seed=0))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    torch.manual_seed(0)
    config = {"epochs": 1, "verbose": False, "threads": 1, "output": str(out), "deterministic": True, **cfg}
    return Trainer(model, loader, None, config, model_name="tiny", resume=resume)


def test_save_every_keeps_the_newest_k_and_each_holds_its_position(tmp_path):
    trainer = _tiny_trainer(tmp_path / "run", save_every=3, keep_last=2)
    trainer.fit()
    names = sorted(p.name for p in (tmp_path / "run").glob("step-*.pt"))
    assert names == ["step-000000006.pt", "step-000000009.pt"]  # 3 was removed; 10 is the epoch's end: last.pt
    state = load_checkpoint(tmp_path / "run" / names[-1])
    assert (state["step"], state["epoch"], state["batch_in_epoch"], state["world_size"]) == (9, 0, 9, 1)
    assert state["partial"][2] == 36  # images seen so far in the epoch
    path, newest = newest_checkpoint(tmp_path / "run")
    assert path.name == "last.pt" and newest["step"] == 10


def test_resuming_a_step_checkpoint_ends_with_the_uninterrupted_weights(tmp_path):
    _tiny_trainer(tmp_path / "a", save_every=4, keep_last=5).fit()
    resumed = _tiny_trainer(tmp_path / "b", resume=tmp_path / "a" / "step-000000004.pt")
    resumed.fit()
    a, b = (load_checkpoint(tmp_path / d / "last.pt")["model"] for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[0]["train_loss"] == pytest.approx(
        load_checkpoint(tmp_path / "a" / "last.pt")["history"][0]["train_loss"]
    )


def test_newest_complete_passes_over_a_damaged_file(tmp_path):
    _tiny_trainer(tmp_path / "run", save_every=2, keep_last=3, max_steps=7).fit()
    run = tmp_path / "run"
    (run / "last.pt").unlink()
    newest = sorted(run.glob("step-*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:200])  # cut short, as by a crash without atomic writes
    path, state = newest_checkpoint(run)
    assert path == sorted(run.glob("step-*.pt"))[-2] and state["step"] == 4
    assert newest_checkpoint(tmp_path / "empty") is None


def test_save_every_minutes_saves_at_a_read_of_the_loss(tmp_path):
    trainer = _tiny_trainer(tmp_path / "run", save_every_minutes=1e-9, log_every=5, keep_last=10)
    trainer.fit()
    # the clock is looked at every 5 steps: step 5 (step 10 ends the epoch: last.pt)
    assert sorted(p.name for p in (tmp_path / "run").glob("step-*.pt")) == ["step-000000005.pt"]


def test_a_new_run_into_a_directory_with_step_checkpoints_is_refused(tmp_path):
    _tiny_trainer(tmp_path / "run", save_every=2, max_steps=3).fit()
    (tmp_path / "run" / "last.pt").unlink()
    with pytest.raises(cnnzoo.errors.OutputDirError, match="step-N.pt"):
        _tiny_trainer(tmp_path / "run").fit()
    _tiny_trainer(tmp_path / "run", overwrite=True, max_steps=1).fit()
    assert not list((tmp_path / "run").glob("step-*.pt"))


@pytest.mark.parametrize(
    "bad",
    [
        {"save_every": 0},
        {"keep_last": 0},
        {"save_every_minutes": -1.0},
        {"save_every_minutes": float("nan")},
        {"dist_timeout": 0.0},
    ],
)
def test_bad_save_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_the_options_are_made_from_the_config():
    parser = argparse.ArgumentParser(argument_default=argparse.SUPPRESS)
    add_config_options(parser)
    args = parser.parse_args(["--save-every", "100", "--save-every-minutes", "7.5", "--keep-last", "3", "--sigusr1"])
    assert vars(args) == {"save_every": 100, "save_every_minutes": 7.5, "keep_last": 3, "sigusr1": True}


@pytest.mark.parametrize(("n", "old", "new", "batches"), [(50, 2, 1, 3), (50, 1, 2, 4), (47, 2, 3, 2), (9, 3, 2, 1)])
def test_a_changed_world_size_deals_out_the_rest_of_the_epoch(n, old, new, batches):
    batch = 4
    before = EpochSampler(n, shuffle=True, seed=5)
    before.set_epoch(1)
    order = list(before)
    seen = []
    for rank in range(old):
        s = EpochSampler(n, shuffle=True, seed=5, rank=rank, world_size=old)
        s.set_epoch(1)
        seen += list(s)[: batches * batch]
    after = []
    for rank in range(new):
        s = EpochSampler(n, shuffle=True, seed=5, rank=rank, world_size=new)
        s.set_epoch(1, consumed=batches * batch * old)
        assert len(s) == len(list(s))
        after += list(s)
    assert sorted(seen) == sorted(order[: batches * batch * old])  # the first k x B x W of the order
    assert set(seen).isdisjoint(order[batches * batch * old :])
    # the rest exactly once, plus at most new - 1 repeats that make the shares equal
    assert set(after) == set(order[batches * batch * old :])
    assert len(after) - len(set(after)) < new


def test_a_checkpoint_of_another_world_size_finishes_its_epoch_on_the_rest_of_the_data(tmp_path):
    _tiny_trainer(tmp_path / "a", save_every=3, keep_last=5).fit()
    state = load_checkpoint(tmp_path / "a" / "step-000000003.pt")
    # as if two processes had taken 3 steps of 4 images each: the first 24 of the epoch's 40 are seen
    state["world_size"] = 2
    lines: list[str] = []
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g))
    loader = DataLoader(data, batch_size=4, sampler=EpochSampler(40, shuffle=True, seed=0))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    trainer = Trainer(
        model,
        loader,
        None,
        {"epochs": 1, "threads": 1, "output": str(tmp_path / "b")},
        model_name="tiny",
        resume=state,
        log=lines.append,
    )
    assert lines == [
        "world size 2 -> 1: global batch 8 -> 4 (4 per process), learning rate 0.05 kept (not rescaled), "
        "10 steps per epoch from here; the rest of epoch 1 (after 24 samples) is dealt out to 1 "
        "processes, none repeated or skipped"
    ]
    trainer.fit()
    assert trainer.step == 3 + 4  # the 16 samples left are 4 batches of 4


def test_sigusr1_stops_and_saves_when_asked_for(tmp_path):
    import os
    import signal

    def usr1_at_step_4(trainer):
        if trainer.step == 4:
            os.kill(os.getpid(), signal.SIGUSR1)

    trainer = _tiny_trainer(tmp_path / "run", sigusr1=True)
    trainer.on_step = usr1_at_step_4
    result = trainer.fit()
    assert result.interrupted == "SIGUSR1"
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["step"], state["batch_in_epoch"]) == (4, 4)
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the handler is undone after the run
