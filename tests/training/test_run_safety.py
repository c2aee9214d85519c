"""A run never replaces another's results, never saves NaN weights, and answers a bad
batch, a BatchNorm batch of one and NaN predictions with one line instead of a traceback."""

import signal

import pytest
import torch
from helpers import cli_error, run_cli
from torch import nn

import cnnzoo
from cnnzoo.apps import write_samples
from cnnzoo.errors import ConfigError, DataError, OutputDirError, TrainingDivergedError, WeightsError
from cnnzoo.training import Trainer
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.outputs import load_checkpoint, save_checkpoint

RUN = dict(limit_batches=2, batch_size=32, verbose=False, device="cpu")
RUN_ARGS = ["--limit-batches", "2", "--quiet", "--device", "cpu"]


def _results(d):
    return {n: (d / n).read_bytes() for n in ("last.pt", "best.pt", "metrics.csv")}


# ---------------------------------------------------------------- a previous run's results
def test_a_new_run_into_a_finished_runs_directory_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *RUN_ARGS, "--epochs", "1", "--output", str(out))[0] == 0
    before = _results(out)
    line = cli_error(capsys, ["train", *RUN_ARGS, "--epochs", "1", "--seed", "3", "--output", str(out)])
    assert line == (
        f"cnnzoo train: error: {out} holds the results of a previous run (last.pt, best.pt, "
        f"metrics.csv); continue it with --resume {out / 'last.pt'}, replace them with --overwrite, "
        "or choose another --output"
    )
    with pytest.raises(OutputDirError, match="holds the results of a previous run"):
        cnnzoo.train(epochs=1, seed=3, output=str(out), **RUN)
    assert _results(out) == before and not (out / ".lock").exists()
    # resume continues it; the config it saved does not carry --overwrite into later runs
    assert run_cli(capsys, "train", "--resume", str(out / "last.pt"), "--epochs", "2", *RUN_ARGS)[0] == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 3


def test_overwrite_replaces_every_result_of_the_previous_run(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *RUN_ARGS, "--epochs", "2", "--output", str(out))[0] == 0
    (out / "events.out.tfevents.1.old.0").write_bytes(b"old events")
    assert (
        run_cli(capsys, "train", *RUN_ARGS, "--epochs", "1", "--seed", "3", "--output", str(out), "--overwrite")[0] == 0
    )
    assert load_checkpoint(out / "last.pt")["epoch"] == 1 and load_checkpoint(out / "best.pt")["epoch"] == 1
    assert len((out / "metrics.csv").read_text().splitlines()) == 2
    assert not list(out.glob("events.out.tfevents.*"))
    assert "overwrite: false" in (out / "config.yaml").read_text()  # the recipe does not overwrite when repeated


def test_a_trainer_going_on_in_its_own_directory_is_not_a_new_run(tmp_path):
    ds = torch.utils.data.TensorDataset(torch.randn(64, 3, 6, 6), torch.randint(0, 4, (64,)))
    loader = torch.utils.data.DataLoader(ds, batch_size=16)
    trainer = Trainer(
        nn.Sequential(nn.Flatten(), nn.Linear(108, 4)),
        loader,
        loader,
        TrainConfig(epochs=2, verbose=False, output=str(tmp_path)),
    )
    trainer.fit(epochs=1)
    assert trainer.fit().epochs == 2
    fresh = Trainer(
        nn.Sequential(nn.Flatten(), nn.Linear(108, 4)),
        loader,
        loader,
        TrainConfig(epochs=2, verbose=False, output=str(tmp_path)),
    )
    with pytest.raises(OutputDirError, match="previous run"):
        fresh.fit()


# ---------------------------------------------------------------- non-finite weights are never saved
def test_divergence_that_shows_first_in_validation_saves_nothing(capsys, tmp_path):
    # one step at lr 1e30: the training loss (read before the step) is finite, the outputs are not
    line = cli_error(
        capsys, ["train", *RUN_ARGS, "--limit-batches", "1", "--epochs", "2", "--lr", "1e30", "--output", str(tmp_path)]
    )
    assert "the validation loss of epoch 1 is nan" in line and "no checkpoint was saved yet" in line
    assert "Lower --lr" in line and "is kept" not in line
    assert not any((tmp_path / n).exists() for n in ("last.pt", "best.pt", "metrics.csv"))


def _inf_weights_at(step: int, stop: bool = False):
    def hook(trainer):
        if trainer.step == step:
            with torch.no_grad():
                trainer.model.get_classifier().weight.fill_(float("inf"))
            if stop:  # as a SIGTERM between two steps would
                trainer._signals.received = signal.SIGTERM

    return hook


@pytest.mark.parametrize("ema", [False, True])
def test_weights_that_become_inf_after_the_last_loss_are_not_saved(tmp_path, ema):
    # step 4 is epoch 2's last: its loss was finite, the weights after it are not
    cnnzoo.train(epochs=1, output=str(tmp_path), ema=ema, **RUN)
    before = _results(tmp_path)
    with pytest.raises(TrainingDivergedError) as e:
        cnnzoo.train(resume=tmp_path / "last.pt", epochs=3, on_step=_inf_weights_at(4), **RUN)
    message = str(e.value)
    assert message.startswith("the validation loss of epoch 2 is ")
    assert "weight tensors became NaN or infinite" in message
    assert f"the last good checkpoint {tmp_path / 'last.pt'} is kept" in message
    assert _results(tmp_path) == before  # best.pt too: a NaN validation is never the best


def test_a_stop_signal_does_not_save_inf_weights(tmp_path):
    cnnzoo.train(epochs=1, output=str(tmp_path), log_every=100, **RUN)
    before = _results(tmp_path)
    with pytest.raises(TrainingDivergedError, match="the weights of epoch 2 are not finite"):
        cnnzoo.train(resume=tmp_path / "last.pt", epochs=3, on_step=_inf_weights_at(3, stop=True), **RUN)
    assert _results(tmp_path) == before


# ---------------------------------------------------------------- batches
class _BN1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_classes = 3
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))

    def forward(self, x):
        return self.body(x)


def test_batchnorm_batch_of_one_is_one_error_with_advice(tmp_path):
    ds = torch.utils.data.TensorDataset(torch.randn(33, 1, 4, 4), torch.randint(0, 3, (33,)))
    loader = torch.utils.data.DataLoader(ds, batch_size=16)  # 16, 16, 1
    trainer = Trainer(_BN1d(), loader, None, TrainConfig(epochs=1, verbose=False, output=str(tmp_path)))
    with pytest.raises(
        ConfigError, match="batch 3 of epoch 1 holds 1 image, which BatchNorm cannot train on.*drop_last=True"
    ):
        trainer.fit()


def test_batchnorm_batch_of_one_from_the_cli(capsys, tmp_path):
    # ResNet-18's ImageNet stem brings 32x32 to 1x1 at layer4: one image gives BN one value
    line = cli_error(
        capsys,
        [
            "train",
            "--model",
            "resnet18",
            "--batch-size",
            "1",
            "--limit-batches",
            "1",
            "--quiet",
            "--device",
            "cpu",
            "--output",
            str(tmp_path),
        ],
    )
    assert "batch 1 of epoch 1 holds 1 image, which BatchNorm cannot train on" in line


class _Triples(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.randn(3, 6, 6), i % 2, f"file{i}.png"


@pytest.mark.parametrize("val", [False, True])
def test_batches_of_three_items_name_what_is_expected(tmp_path, val):
    triples = torch.utils.data.DataLoader(_Triples(), batch_size=4)
    pairs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(8, 3, 6, 6), torch.randint(0, 2, (8,))), batch_size=4
    )
    train, check = (pairs, triples) if val else (triples, pairs)
    model = nn.Sequential(nn.Flatten(), nn.Linear(108, 2))
    trainer = Trainer(model, train, check, TrainConfig(epochs=1, verbose=False, output=str(tmp_path)))
    what = "validation" if val else "training"
    with pytest.raises(
        DataError,
        match=rf"the {what} loader's batches must be \(images, labels\) pairs; "
        r"batch 1 is \[a float32 tensor of shape \(4, 3, 6, 6\), a int64 tensor of shape \(4,\), \('file0.png'",
    ):
        trainer.fit()


# ---------------------------------------------------------------- predict
def test_predict_refuses_nan_outputs(capsys, tmp_path):
    result = cnnzoo.train(epochs=1, output=str(tmp_path / "run"), **RUN)
    state = load_checkpoint(result.best_checkpoint)
    state["model"] = {k: v.fill_(float("nan")) if k.endswith("weight") else v for k, v in state["model"].items()}
    save_checkpoint(state, tmp_path / "nan.pt")
    sample = write_samples(tmp_path / "s", n=1)[0]
    line = cli_error(capsys, ["predict", "--pretrained", str(tmp_path / "nan.pt"), str(sample)])
    assert f"the model gives NaN or infinite outputs for {sample}" in line and "weight tensors hold NaN" in line
    model = cnnzoo.apps.load_model(None, str(tmp_path / "nan.pt"))
    with pytest.raises(WeightsError, match="NaN or infinite outputs"):
        cnnzoo.apps.predict(model, [sample])
