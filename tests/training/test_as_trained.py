"""Predict and transfer as trained: sample images, a run's checkpoint in predict (its classes and
preprocessing), what --freeze-backbone/--layer-decay train, GoogLeNet's head losses in metrics.csv."""

import csv

import pytest
import torch
from helpers import run_cli

import cnnzoo
from cnnzoo.apps import load_model, preprocess, write_samples
from cnnzoo.data import build_transforms, digits_dataset, encode_png, read_image
from cnnzoo.data.stats import eval_preprocessing
from cnnzoo.training.outputs import METRIC_COLUMNS, write_metrics_csv

QUICK = dict(epochs=1, verbose=False, device="cpu", threads=1, workers=0)


# ---------------------------------------------------------------- sample images
@pytest.mark.slow  # predicts and explains 20 images (SmoothGrad: 16 passes each), ~25 s
def test_digit_samples_run_the_readme_commands(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "samples", "--output", str(tmp_path))
    paths = out.split()
    assert code == 0 and len(paths) == 20
    assert [p.rsplit("/", 1)[1] for p in paths[:11]] == [f"digit{d}_0.png" for d in range(10)] + ["digit0_1.png"]
    img = read_image(paths[0], 1)
    assert img.shape == (1, 32, 32) and img.dtype == torch.uint8 and img.float().mean() < 128  # light on dark
    # the README's command, as written, on these files: the shipped weights get them right
    code, out, _ = run_cli(
        capsys, "predict", "--model", "lenet5", *paths, "--topk", "1", "--saliency", str(tmp_path / "sal.png")
    )
    assert code == 0
    labels = [line.split()[1] for line in out.splitlines() if line.startswith("  1. ")]
    truth = [p.rsplit("/", 1)[1][5] for p in paths]
    assert sum(a == b for a, b in zip(labels, truth)) >= 18
    assert (tmp_path / "sal-digit0_0.png").is_file()


def test_samples_are_the_validation_images_as_trained(tmp_path):
    ds = digits_dataset("val", 32, 1)
    (path,) = write_samples(tmp_path, n=1)
    x, _ = preprocess(path, eval_preprocessing("digits", 32, 1))
    first_zero = int((ds.labels == 0).nonzero()[0])
    torch.testing.assert_close(x, ds.images[first_zero], atol=1.01 / 255 / 0.5, rtol=0)  # uint8 rounding only


def image_folder(root, classes=("even", "odd"), per_class=4, size=40):
    """A tiny image folder of digit pictures: train/ and val/, one folder per class."""
    ds = digits_dataset("train", size, 1)
    for split in ("train", "val"):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            picks = [i for i in range(len(ds)) if int(ds.labels[i]) % len(classes) == k][:per_class]
            for j, i in enumerate(picks):
                img = ((ds.images[i] * 0.5 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
                (root / split / name / f"{j}.png").write_bytes(encode_png(img))
    return root


def test_samples_of_an_image_folder_are_its_files(tmp_path):
    root = image_folder(tmp_path / "data", per_class=3)
    written = write_samples(tmp_path / "out", str(root), n=4)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "even/0.png",
        "even/1.png",
        "odd/0.png",
        "odd/1.png",
    ]
    assert (tmp_path / "out/odd/1.png").read_bytes() == (root / "val/odd/1.png").read_bytes()


# ---------------------------------------------------------------- predict with a run's checkpoint
def test_predict_with_an_image_folder_run_uses_its_classes_and_preprocessing(capsys, tmp_path):
    root = image_folder(tmp_path / "data")
    result = cnnzoo.train(model="lenet5", data=str(root), batch_size=4, output=str(tmp_path / "run"), **QUICK)
    best = str(result.best_checkpoint)
    model = load_model(None, best)
    cfg = model.pretrained_cfg
    assert cfg["label_names"] == ["even", "odd"]
    assert (cfg["input_size"], cfg["resize_size"], cfg["crop_mode"]) == ((1, 32, 32), 37, "center")
    # the image goes through predict's preprocessing as through the run's evaluation transform
    path = root / "val/odd/0.png"
    x, _ = preprocess(path, cfg)
    mean, std = cfg["mean"], cfg["std"]
    expected = build_transforms("imagefolder", False, image_size=32, in_chans=1, mean=mean, std=std)(
        read_image(path, 1)
    )
    # the same geometry and statistics; the run's pipeline resizes uint8 images (rounding to a level)
    torch.testing.assert_close(x, expected, atol=2 / 255 / std[0], rtol=0)
    code, out, _ = run_cli(capsys, "predict", "--pretrained", best, str(path), "--topk", "2")
    assert code == 0
    assert sorted(line.split()[1] for line in out.splitlines()[1:3]) == ["even", "odd"]


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
    assert {k: old[k] for k in ("resize_size", "crop_mode", "mean", "std", "input_size")} == {
        k: cfg[k] for k in ("resize_size", "crop_mode", "mean", "std", "input_size")
    }


def test_predict_takes_the_runs_model_arguments(capsys, tmp_path):
    result = cnnzoo.train(
        model="lenet5", model_kwargs={"variant": "paper"}, limit_batches=2, output=str(tmp_path / "run"), **QUICK
    )
    sample = write_samples(tmp_path / "s", n=1)[0]
    code, out, _ = run_cli(capsys, "predict", "--pretrained", str(result.best_checkpoint), str(sample), "--json")
    assert code == 0 and '"label": "' in out
    code, _, err = run_cli(capsys, "predict", str(sample))
    assert code == 2 and "--model" in err


# ---------------------------------------------------------------- what a transfer run trains
def test_freeze_backbone_prints_what_is_trained(capsys, tmp_path):
    cnnzoo.train(
        model="lenet5", freeze_backbone=True, limit_batches=1, output=str(tmp_path / "a"), **{**QUICK, "verbose": True}
    )
    out = capsys.readouterr().out
    assert "parameters: 61,706 (60,856 frozen, 850 trainable)" in out
    rows = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("features.", "f6", "output"))
    }
    assert rows["features.c1"] == ["0", "frozen"] and rows["output"] == ["850", "0.05"]


def test_layer_decay_prints_the_rate_of_each_unit(capsys, tmp_path):
    cnnzoo.train(
        model="lenet5", layer_decay=0.5, limit_batches=1, output=str(tmp_path / "a"), **{**QUICK, "verbose": True}
    )
    out = capsys.readouterr().out
    rates = {
        line.split()[0]: float(line.split()[-1])
        for line in out.splitlines()
        if line.startswith(("features.c", "f6 ", "output "))
    }
    assert rates == pytest.approx(
        {"features.c1": 0.05 / 16, "features.c3": 0.05 / 8, "features.c5": 0.05 / 4, "f6": 0.05 / 2, "output": 0.05},
        rel=2e-3,
    )  # printed to 3 digits


# ---------------------------------------------------------------- GoogLeNet's heads in metrics.csv
def test_googlenet_logs_the_main_and_auxiliary_losses(tmp_path):
    result = cnnzoo.train(
        model="googlenet",
        data="synthetic:8",
        batch_size=4,
        input_size=64,
        limit_batches=1,
        output=str(tmp_path / "g"),
        **QUICK,
    )
    with open(result.output_dir / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert list(row)[-3:] == ["train_loss_main", "train_loss_aux1", "train_loss_aux2"]
    main, aux1, aux2 = (float(row[k]) for k in ("train_loss_main", "train_loss_aux1", "train_loss_aux2"))
    assert float(row["train_loss"]) == pytest.approx(main + 0.3 * (aux1 + aux2), rel=1e-4)


def test_metrics_csv_of_a_model_without_auxiliary_heads_keeps_its_columns(tmp_path):
    write_metrics_csv(tmp_path / "m.csv", [{k: 1.0 for k in METRIC_COLUMNS}])
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
