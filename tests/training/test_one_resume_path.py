"""One way to resume: what a Trainer needs (the checkpoint, the run directory, the metadata
its checkpoints carry) is given when it is built."""

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.data import build_data
from cnnzoo.errors import CheckpointError
from cnnzoo.training import TrainConfig, Trainer
from cnnzoo.training.outputs import load_checkpoint

CPU = torch.device("cpu")
RUN = dict(
    epochs=2, lr=0.1, seed=5, deterministic=True, threads=1, batch_size=32, limit_batches=3, verbose=False, device="cpu"
)


def _trainer(output, **kwargs):
    torch.manual_seed(123)
    b = build_data("digits", image_size=8, in_chans=1, batch_size=32, workers=0, device=CPU, seed=5)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * 6 * 6, 10)
    )
    cfg = TrainConfig(output=str(output) if output is not None else None, **RUN)
    return Trainer(model, b.train_loader, b.val_loader, cfg, model_name="resumed", **kwargs)


def _same(a, b):
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_given_at_construction_equals_an_uninterrupted_run(tmp_path):
    _trainer(tmp_path / "full").fit()
    _trainer(tmp_path / "half").fit(epochs=1)
    torch.manual_seed(999)  # a resumed run must not depend on the RNG of the process
    # no output given: the run continues in the checkpoint's own directory
    resumed = _trainer(None, resume=tmp_path / "half" / "last.pt")
    assert (resumed.epoch, resumed.output_dir) == (1, tmp_path / "half")
    res = resumed.fit()
    assert res.output_dir == tmp_path / "half" and res.epochs == 2
    full, half = (load_checkpoint(tmp_path / d / "last.pt") for d in ("full", "half"))
    _same(full["model"], half["model"])
    timing = {"images_per_s", "seconds"}  # the clock's, not the run's
    assert [{k: v for k, v in r.items() if k not in timing} for r in full["history"]] == [
        {k: v for k, v in r.items() if k not in timing} for r in half["history"]
    ]


def test_output_dir_and_meta_are_given_at_construction(tmp_path):
    meta = {"classes": [str(i) for i in range(10)], "data": "digits"}
    first = _trainer(tmp_path / "cfg", output_dir=tmp_path / "given", meta=meta)
    first.fit(epochs=1)
    assert not (tmp_path / "cfg").exists()  # output_dir wins over config.output
    state = load_checkpoint(tmp_path / "given" / "last.pt")
    assert (state["classes"], state["data"]) == (meta["classes"], "digits")
    meta["classes"] = []  # the trainer keeps its own copy
    assert first.meta["classes"][0] == "0"


def test_fit_resume_stays_one_release_deprecated_and_restores_the_same_state(tmp_path):
    _trainer(tmp_path / "run").fit(epochs=1)
    last = tmp_path / "run" / "last.pt"
    built = _trainer(tmp_path / "run", resume=last)
    old = _trainer(tmp_path / "run")
    with pytest.warns(DeprecationWarning, match=r"Trainer\(\.\.\., resume=\.\.\.\)"):
        old.fit(resume=last, epochs=0)
    _same(built.model.state_dict(), old.model.state_dict())
    assert (built.epoch, built.step, built.history) == (old.epoch, old.step, old.history)


def test_resuming_another_models_checkpoint_is_refused_when_built(tmp_path):
    _trainer(tmp_path / "run").fit(epochs=1)
    b = build_data("digits", image_size=8, in_chans=1, batch_size=32, workers=0, device=CPU)
    with pytest.raises(CheckpointError, match="'resumed', not 'other'"):
        Trainer(
            nn.Linear(64, 10),
            b.train_loader,
            None,
            TrainConfig(**RUN),
            model_name="other",
            resume=tmp_path / "run" / "last.pt",
        )


def test_cnnzoo_train_resumes_through_the_constructor(tmp_path):
    args = dict(epochs=1, limit_batches=2, batch_size=32, verbose=False, device="cpu", seed=1)
    first = cnnzoo.train("lenet5", output=str(tmp_path / "run"), **args)
    res = cnnzoo.train(resume=first.last_checkpoint, **{**args, "epochs": 2})
    assert res.output_dir == tmp_path / "run" and res.epochs == 2
    state = load_checkpoint(res.last_checkpoint)
    # the metadata predict needs is in the resumed run's checkpoint too
    assert state["epoch"] == 2 and len(state["classes"]) == 10 and state["preprocessing"]["input_size"]


def test_resume_takes_a_checkpoint_already_read(tmp_path):
    _trainer(tmp_path / "run").fit(epochs=1)
    last = tmp_path / "run" / "last.pt"
    from_path, from_state = _trainer(None, resume=last), _trainer(None, resume=load_checkpoint(last))
    _same(from_path.model.state_dict(), from_state.model.state_dict())
    assert (from_path.epoch, from_path.step, from_path.history) == (
        from_state.epoch,
        from_state.step,
        from_state.history,
    )
    # a state has no directory of its own: the run goes where output_dir says, else to a new one
    assert from_path.output_dir == tmp_path / "run" and from_state.output_dir is None
    state = load_checkpoint(last)
    b = build_data("digits", image_size=8, in_chans=1, batch_size=32, workers=0, device=CPU)
    with pytest.raises(CheckpointError, match="'resumed', not 'other'"):
        Trainer(nn.Linear(64, 10), b.train_loader, None, TrainConfig(**RUN), model_name="other", resume=state)
