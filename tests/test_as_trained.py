"""Predict and transfer as trained: a run's checkpoint records its classes and preprocessing, what
--freeze-backbone/--layer-decay train, GoogLeNet's head losses in metrics.csv."""

import csv

import pytest
import torch

import cnnzoo
from cnnzoo.training.outputs import METRIC_COLUMNS, write_metrics_csv

QUICK = dict(epochs=1, verbose=False, device="cpu", threads=1, workers=0)


def test_predict_with_a_digits_run_resizes_without_cropping(tmp_path):
    result = cnnzoo.train(model="lenet5", limit_batches=3, output=str(tmp_path / "run"), **QUICK)
    state = torch.load(result.best_checkpoint, weights_only=True)
    assert state["preprocessing"]["crop_mode"] == "squash" and state["preprocessing"]["resize_size"] == 32
    cfg = cnnzoo.create_model("lenet5", pretrained=str(result.best_checkpoint)).pretrained_cfg
    assert (cfg["resize_size"], cfg["crop_pct"], cfg["crop_mode"], cfg["mean"]) == (32, 1.0, "squash", (0.5,))
    assert cfg["label_names"] == [str(d) for d in range(10)]
    # a checkpoint written before the preprocessing was recorded: read from its config
    del state["preprocessing"]
    torch.save(state, tmp_path / "old.pt")
    old = cnnzoo.create_model("lenet5", pretrained=str(tmp_path / "old.pt")).pretrained_cfg
    assert {k: old[k] for k in ("resize_size", "crop_mode", "mean", "std", "input_size")} == \
        {k: cfg[k] for k in ("resize_size", "crop_mode", "mean", "std", "input_size")}


# ---------------------------------------------------------------- what a transfer run trains
def test_freeze_backbone_prints_what_is_trained(capsys, tmp_path):
    cnnzoo.train(model="lenet5", freeze_backbone=True, limit_batches=1, output=str(tmp_path / "a"),
                 **{**QUICK, "verbose": True})
    out = capsys.readouterr().out
    assert "parameters: 61,706 (60,856 frozen, 850 trainable)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.startswith(("features.", "f6", "output"))}
    assert rows["features.c1"] == ["0", "frozen"] and rows["output"] == ["850", "0.05"]


def test_layer_decay_prints_the_rate_of_each_unit(capsys, tmp_path):
    cnnzoo.train(model="lenet5", layer_decay=0.5, limit_batches=1, output=str(tmp_path / "a"),
                 **{**QUICK, "verbose": True})
    out = capsys.readouterr().out
    rates = {line.split()[0]: float(line.split()[-1]) for line in out.splitlines()
             if line.startswith(("features.c", "f6 ", "output "))}
    assert rates == pytest.approx({"features.c1": 0.05 / 16, "features.c3": 0.05 / 8, "features.c5": 0.05 / 4,
                                   "f6": 0.05 / 2, "output": 0.05}, rel=2e-3)  # printed to 3 digits


# ---------------------------------------------------------------- GoogLeNet's heads in metrics.csv
def test_googlenet_logs_the_main_and_auxiliary_losses(tmp_path):
    result = cnnzoo.train(model="googlenet", data="synthetic:8", batch_size=4, input_size=64, limit_batches=1,
                          output=str(tmp_path / "g"), **QUICK)
    with open(result.output_dir / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert list(row)[-3:] == ["train_loss_main", "train_loss_aux1", "train_loss_aux2"]
    main, aux1, aux2 = (float(row[k]) for k in ("train_loss_main", "train_loss_aux1", "train_loss_aux2"))
    assert float(row["train_loss"]) == pytest.approx(main + 0.3 * (aux1 + aux2), rel=1e-4)


def test_metrics_csv_of_a_model_without_auxiliary_heads_keeps_its_columns(tmp_path):
    write_metrics_csv(tmp_path / "m.csv", [{k: 1.0 for k in METRIC_COLUMNS}])
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
