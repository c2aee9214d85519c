"""``--log tensorboard`` writes the run's curves as TensorBoard events, read back here
with tensorboard's own reader and compared with metrics.csv."""

import csv
import sys

import pytest
from helpers import cli_error, run_cli

import cnnzoo
from cnnzoo.errors import MissingDependencyError
from cnnzoo.training.outputs import load_checkpoint

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

ARGS = ["--limit-batches", "3", "--quiet", "--device", "cpu", "--log", "tensorboard", "--log-every", "1"]


def _scalars(run_dir):
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_events_hold_the_metrics_per_epoch_and_per_step(capsys, tmp_path):
    assert run_cli(capsys, "train", *ARGS, "--epochs", "2", "--output", str(tmp_path))[0] == 0
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
    scalars = _scalars(tmp_path)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    columns = [c for c in rows[0] if c != "epoch"]
    assert {f"epoch/{c}" for c in columns} <= set(scalars)
    for c in columns:  # at the epoch's last optimiser step (3 per epoch), equal to metrics.csv's 6 digits
        assert [s for s, _ in scalars[f"epoch/{c}"]] == [3, 6]
        for (_, value), row in zip(scalars[f"epoch/{c}"], rows):
            assert value == pytest.approx(float(row[c]), rel=1e-5, abs=1e-6), c
    for tag in ("train_loss", "train_acc", "lr", "images_per_s"):
        assert [s for s, _ in scalars[f"step/{tag}"]] == [1, 2, 3, 4, 5, 6], tag
    # the per-step losses are the means of their own steps: the epoch's mean is their mean (equal batches)
    first_epoch = [v for s, v in scalars["step/train_loss"] if s <= 3]
    assert sum(first_epoch) / 3 == pytest.approx(float(rows[0]["train_loss"]), rel=1e-5)
    assert all(v > 0 for _, v in scalars["step/images_per_s"])


def test_a_resumed_run_purges_what_came_after_its_checkpoint(capsys, tmp_path):
    assert run_cli(capsys, "train", *ARGS, "--epochs", "1", "--output", str(tmp_path))[0] == 0
    epoch1 = tmp_path / "epoch1.pt"
    epoch1.write_bytes((tmp_path / "last.pt").read_bytes())
    assert run_cli(capsys, "train", "--resume", str(tmp_path / "last.pt"), "--epochs", "2", "--quiet")[0] == 0
    # the run goes back to its epoch-1 checkpoint: the events of steps 4 to 6 are logged again, once
    assert run_cli(capsys, "train", "--resume", str(epoch1), "--epochs", "2", "--quiet")[0] == 0
    scalars = _scalars(tmp_path)
    assert [s for s, _ in scalars["epoch/val_top1"]] == [3, 6]
    assert [s for s, _ in scalars["step/train_loss"]] == [1, 2, 3, 4, 5, 6]  # each step once
    assert load_checkpoint(tmp_path / "last.pt")["config"]["log"] == "tensorboard"


def test_without_the_tensorboard_package_it_is_one_line(capsys, tmp_path, monkeypatch):
    for name in ("tensorboard", "torch.utils.tensorboard"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` of a None entry raises ImportError
    line = cli_error(capsys, ["train", *ARGS, "--output", str(tmp_path / "cli")])
    assert (
        line == "cnnzoo train: error: --log tensorboard needs the tensorboard package: "
        "pip install 'cnnzoo[tensorboard]'"
    )
    with pytest.raises(MissingDependencyError, match=r"pip install 'cnnzoo\[tensorboard\]'"):
        cnnzoo.train(log="tensorboard", output=str(tmp_path / "api"), limit_batches=1, verbose=False)
    assert not (tmp_path / "cli").exists() or not any((tmp_path / "cli").iterdir())
