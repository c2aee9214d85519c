"""A model with auxiliary outputs (GoogLeNet) stopped mid-epoch resumes from its last.pt."""

from __future__ import annotations

import os
import signal

import pytest
import torch

import cnnzoo
from cnnzoo.models.base import logits_of
from cnnzoo.training.outputs import checkpoint_problem, load_checkpoint
from cnnzoo.training.parts import EpochTotals


def test_partial_of_aux_heads_is_what_the_reader_accepts():
    model = cnnzoo.create_model("googlenet", num_classes=3).train()
    out = model(torch.randn(2, 3, 64, 64))
    totals = EpochTotals(torch.device("cpu"))
    target = torch.tensor([0, 2])
    totals.add(torch.nn.functional.cross_entropy(logits_of(out), target), out, target, 1)
    partial = totals.partial()
    assert len(partial) == len(EpochTotals.PARTIAL_FIELDS) + 3  # the main head and two auxiliary ones
    assert checkpoint_problem({"partial": partial}) is None
    assert checkpoint_problem({"partial": partial[:3]}) is not None
    assert checkpoint_problem({"partial": [*partial[:4], "x"]}) is not None
    # and what the reader accepts, the trainer's totals read back
    again = EpochTotals(torch.device("cpu"), partial)
    assert again.partial() == partial


@pytest.mark.slow
def test_googlenet_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    kw = dict(
        data="synthetic:32",
        epochs=1,
        batch_size=8,
        threads=1,
        workers=0,
        verbose=False,
        seed=0,
        input_size=64,
        deterministic=True,
    )

    def sigterm_at_step_2(trainer):
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = cnnzoo.train("googlenet", output=str(tmp_path / "a"), on_step=sigterm_at_step_2, **kw)
    assert stopped.interrupted == "SIGTERM"
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    assert state["batch_in_epoch"] == 2 and len(state["partial"]) == len(EpochTotals.PARTIAL_FIELDS) + 3
    resumed = cnnzoo.train(resume=tmp_path / "a" / "last.pt", verbose=False)
    whole = cnnzoo.train("googlenet", output=str(tmp_path / "b"), **kw)
    assert resumed.epochs == whole.epochs == 1
    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert resumed.history[0]["train_loss_aux1"] == pytest.approx(whole.history[0]["train_loss_aux1"])
