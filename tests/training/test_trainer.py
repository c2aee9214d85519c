"""The trainer: outputs, precision, resume, checkpoints, NaN stop, freezing, layer-wise lr, aux losses."""

import csv
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.data import build_data
from cnnzoo.errors import CheckpointError, DeviceError, OutputDirError, TrainingDivergedError
from cnnzoo.models import registry
from cnnzoo.models.googlenet import GoogLeNetOutputs
from cnnzoo.models.layers import check_model_args
from cnnzoo.training import Trainer, build_optimizer, compute_loss, layer_units
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.outputs import RunLock, load_checkpoint, save_checkpoint
from cnnzoo.training.parts import ModelEma

CPU = torch.device("cpu")
QUICK = dict(batch_size=32, limit_batches=4, verbose=False, device="cpu")


class TinyNet(nn.Module):
    """conv-BN-ReLU, conv-ReLU, 2x2 average pool, dropout, linear: milliseconds per step."""

    def __init__(self, *, num_classes: int = 10, in_chans: int = 1, bn: bool = True, dropout: float = 0.25) -> None:
        super().__init__()
        check_model_args(num_classes, in_chans)
        self.num_classes, self.in_chans, self.num_features = num_classes, in_chans, 32
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, padding=1), nn.BatchNorm2d(8) if bn else nn.Identity(), nn.ReLU()
        )
        self.stage = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(32, num_classes)

    def forward_features(self, x):
        return self.stage(self.stem(x))

    def forward_head(self, x, pre_logits: bool = False):
        x = self.drop(self.pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self):
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = nn.Linear(32, num_classes) if num_classes else nn.Identity()


@pytest.fixture
def tiny():
    def trainer_tiny(*, num_classes: int = 10, in_chans: int = 1, bn: bool = True, dropout: float = 0.25):
        return TinyNet(num_classes=num_classes, in_chans=in_chans, bn=bn, dropout=dropout)

    registry.register_model(trainer_tiny, overwrite=True, input_size=(1, 8, 8))
    yield "trainer_tiny"
    registry._REGISTRY.pop("trainer_tiny", None)


def digits_loaders(batch_size=32, size=8, seed=0, in_chans=1):
    b = build_data(
        "digits", image_size=size, in_chans=in_chans, batch_size=batch_size, workers=0, device=CPU, seed=seed
    )
    return b.train_loader, b.val_loader


def weights_of(path):
    return load_checkpoint(path)["model"]


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- runs and outputs
def test_train_writes_the_run_directory(tmp_path, tiny):
    out = tmp_path / "run"
    res = cnnzoo.train(tiny, epochs=2, output=str(out), **QUICK)
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt", "curves.png"} <= {p.name for p in out.iterdir()}
    assert not (out / ".lock").exists()
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_top1",
        "val_top5",
        "lr",
        "images_per_s",
        "seconds",
    ]
    assert res.best_top1 == max(float(r["val_top1"]) for r in rows) and 0 <= res.best_top1 <= 100
    assert res.epochs == 2 and res.output_dir == out and res.interrupted is None
    saved = cnnzoo.training.load_config(out / "config.yaml")
    assert saved["model"] == tiny and saved["input_size"] == 8 and saved["in_chans"] == 1 and saved["output"] is None
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["model_name"] == tiny and ckpt["epoch"] == 2 and ckpt["config"]["epochs"] == 2
    assert {"optimizer", "scheduler", "rng", "ema", "scaler", "step"} <= set(ckpt)


def test_trainer_takes_a_notebooks_own_model_and_loaders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output is runs/<model>-<time> in the working directory
    ds = torch.utils.data.TensorDataset(torch.randn(64, 3, 6, 6), torch.randint(0, 4, (64,)))
    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(64, 4))
    trainer = Trainer(model, loader, loader, TrainConfig(epochs=2, verbose=False))
    first = trainer.fit(epochs=1)  # a notebook trains a little, looks, and goes on
    res = trainer.fit()
    assert [r["epoch"] for r in res.history] == [1, 2] and math.isfinite(res.history[-1]["val_loss"])
    assert res.output_dir == first.output_dir and (res.output_dir / "best.pt").is_file()
    assert res.output_dir.parent.name == "runs" and res.output_dir.name.startswith("sequential-")


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_lenet5_default_recipe_reaches_97_percent(tmp_path, capsys):
    assert main(["train", "--model", "lenet5", "--output", str(tmp_path)]) == 0
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert last_line.startswith("best val top-1")
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["history"][best["epoch"] - 1]["val_top1"] >= 97.0


def test_eval_command_reports_the_checkpoint(tmp_path, tiny, capsys):
    res = cnnzoo.train(tiny, epochs=1, output=str(tmp_path), **QUICK)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(res.best_checkpoint), "--limit-batches", "2"]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" in out and tiny in out
    m = cnnzoo.training.evaluate_checkpoint(res.best_checkpoint, limit_batches=4)
    assert m["val_top1"] == pytest.approx(res.best_top1)  # same data, same weights, same metric


# ---------------------------------------------------------------- precision and devices
@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_cpu_precisions(tmp_path, precision, dtype):
    train_loader, val_loader = digits_loaders()
    model = TinyNet()
    seen = []
    model.stem[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    cfg = TrainConfig(epochs=1, precision=precision, output=str(tmp_path), **QUICK)
    res = Trainer(model, train_loader, val_loader, cfg).fit()
    assert seen[0] == dtype and math.isfinite(res.history[0]["train_loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: weights stay fp32


def test_channels_last_and_threads_on_cpu(tmp_path):
    train_loader, val_loader = digits_loaders(in_chans=3)
    model = TinyNet(in_chans=3)
    seen = []
    channels_last = torch.channels_last
    model.stem[0].register_forward_pre_hook(
        lambda m, args: seen.append((args[0].is_contiguous(memory_format=channels_last), torch.get_num_threads()))
    )
    threads = torch.get_num_threads()
    want = 2 if threads == 1 else 1
    cfg = TrainConfig(epochs=1, channels_last=True, threads=want, output=str(tmp_path), **QUICK)
    Trainer(model, train_loader, val_loader, cfg).fit()
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert seen[0] == (True, want) and not model.stem[0].weight.is_contiguous()
    assert torch.get_num_threads() == threads  # restored after the run


def test_fp16_and_cuda_need_cuda(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="fp16 needs CUDA; use bf16 or fp32"):
        cnnzoo.train(tiny, precision="fp16", output=str(tmp_path), **QUICK)
    with pytest.raises(DeviceError, match="CUDA"):
        cnnzoo.train(tiny, output=str(tmp_path), **{**QUICK, "device": "cuda"})
    assert main(["train", "--model", tiny, "--device", "cuda:0", "--output", str(tmp_path)]) == 2


# ---------------------------------------------------------------- resume
def test_resume_through_the_api_is_bit_exact(tmp_path):
    # cosine schedule with warmup, BN and dropout: everything a resume must restore
    cfg = dict(
        epochs=2, lr=0.1, warmup_epochs=0.5, seed=5, deterministic=True, threads=1, **{**QUICK, "limit_batches": 6}
    )

    def trainer(out):
        torch.manual_seed(123)
        train_loader, val_loader = digits_loaders(seed=5)
        return Trainer(TinyNet(), train_loader, val_loader, TrainConfig(output=str(out), **cfg), model_name="tiny")

    trainer(tmp_path / "full").fit()
    first = trainer(tmp_path / "half")
    first.fit(epochs=1)  # the first epoch of the same 2-epoch schedule
    assert load_checkpoint(tmp_path / "half" / "last.pt")["epoch"] == 1
    torch.manual_seed(999)  # a resumed run must not depend on the RNG of the process
    trainer(tmp_path / "half").fit(resume=tmp_path / "half" / "last.pt")
    full, resumed = (load_checkpoint(tmp_path / d / "last.pt") for d in ("full", "half"))
    assert_same_tensors(full["model"], resumed["model"])
    assert full["history"][1]["train_loss"] == resumed["history"][1]["train_loss"]
    assert full["optimizer"]["state"][0]["momentum_buffer"].equal(resumed["optimizer"]["state"][0]["momentum_buffer"])


def test_resume_from_the_command_line_is_bit_exact(tmp_path):
    # a 2-epoch run equals a 1-epoch run resumed for its second epoch (a schedule that does
    # not depend on the total number of epochs, as the two runs must share it)
    args = [
        "train",
        "--model",
        "lenet5",
        "--limit-batches",
        "3",
        "--schedule",
        "step",
        "--step-size",
        "1",
        "--gamma",
        "0.5",
        "--seed",
        "1",
        "--deterministic",
        "--threads",
        "1",
        "--quiet",
    ]
    assert main([*args, "--epochs", "2", "--output", str(tmp_path / "a")]) == 0
    assert main([*args, "--epochs", "1", "--output", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b" / "last.pt"), "--epochs", "2", "--quiet"]) == 0
    assert_same_tensors(weights_of(tmp_path / "a" / "last.pt"), weights_of(tmp_path / "b" / "last.pt"))
    assert len((tmp_path / "b" / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_resume_refuses_another_models_checkpoint(tmp_path, tiny, capsys):
    res = cnnzoo.train(tiny, epochs=1, output=str(tmp_path), **QUICK)
    with pytest.raises(CheckpointError, match=f"'{tiny}'.*'lenet5'"):
        cnnzoo.train("lenet5", resume=res.last_checkpoint, **QUICK)
    assert main(["eval", "--model", "lenet5", "--checkpoint", str(res.last_checkpoint)]) == 2
    assert "trainer_tiny" in capsys.readouterr().err


# ---------------------------------------------------------------- checkpoints
def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "model_name": "m"}, path)

    def torn_save(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(CheckpointError, match="disk full.*no space|disk full"):
        save_checkpoint({"model": {"w": torch.zeros(3)}, "model_name": "m"}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))  # the old file is whole
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # and no temp file is left
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


class _NaNAtEpoch2:
    """A loader whose second pass (epoch 2) has a NaN image in its third batch."""

    def __init__(self, loader):
        self.loader, self.passes = loader, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for i, (x, y) in enumerate(self.loader):
            if self.passes == 2 and i == 2:
                x = x.clone()
                x[0, 0, 0, 0] = float("nan")
            yield x, y


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    train_loader, val_loader = digits_loaders()
    cfg = TrainConfig(epochs=3, output=str(tmp_path), log_every=1000, **{**QUICK, "limit_batches": 5})
    with pytest.raises(TrainingDivergedError, match="batch 3 of epoch 2"):
        Trainer(TinyNet(), _NaNAtEpoch2(train_loader), val_loader, cfg).fit()
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2
    assert not (tmp_path / ".lock").exists()


# ---------------------------------------------------------------- transfer learning
def test_freeze_backbone_trains_only_the_classifier(tmp_path):
    train_loader, val_loader = digits_loaders()
    model = TinyNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=1, freeze_backbone=True, output=str(tmp_path), **QUICK)
    trainer = Trainer(model, train_loader, val_loader, cfg)
    trained = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert trained == {id(model.fc.weight), id(model.fc.bias)}
    trainer.fit()
    after = model.state_dict()
    for k in before:
        same = torch.equal(before[k], after[k])
        assert same == (not k.startswith("fc.")), k  # BN running stats of the backbone included


def test_layer_decay_gives_earlier_units_smaller_rates():
    model = TinyNet()
    assert layer_units(model) == ["stem.0", "stem.1", "stage.0", "fc"]
    opt = build_optimizer(model, TrainConfig(lr=1.0, layer_decay=0.5, norm_weight_decay=0.0), CPU)
    lr_of = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(model.fc.weight)] == (1.0, 5e-4)
    assert lr_of[id(model.stage[0].weight)] == (0.5, 5e-4)
    assert lr_of[id(model.stem[1].weight)] == (0.25, 0.0)  # a BN weight: norm_weight_decay
    assert lr_of[id(model.stem[0].weight)] == (0.125, 5e-4)
    units = layer_units(cnnzoo.create_model("resnet18"))
    assert units[0] == "conv1" and units[-1] == "fc" and "layer4.1" in units


# ---------------------------------------------------------------- the loss and the loop's options
def test_compute_loss_adds_googlenets_aux_losses():
    g = torch.Generator().manual_seed(0)
    logits, aux1, aux2 = (torch.randn(4, 5, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 2, 3])
    ce = nn.functional.cross_entropy
    out = GoogLeNetOutputs(logits, aux1, aux2)
    assert torch.allclose(compute_loss(out, y), ce(logits, y) + 0.3 * ce(aux1, y) + 0.3 * ce(aux2, y))
    assert torch.allclose(compute_loss(logits, y), ce(logits, y))


def test_googlenet_trains_its_aux_heads_through_the_loop(tmp_path):
    model = cnnzoo.create_model("googlenet", num_classes=3)
    loader = cnnzoo.data.SyntheticLoader(batch_size=2, image_size=32, in_chans=3, num_classes=3, batches=1, device=CPU)
    aux_before = model.aux1.fc2.weight.detach().clone()
    cfg = TrainConfig(epochs=1, output=str(tmp_path), lr=0.5, **QUICK)
    res = Trainer(model, loader, loader, cfg).fit()
    assert not torch.equal(model.aux1.fc2.weight, aux_before)  # only the aux loss reaches it
    assert 0 <= res.history[0]["val_top1"] <= 100  # evaluation used the main head (eval mode)


def test_grad_accumulation_equals_the_large_batch(tmp_path):
    def run(batch_size, accum, out):
        torch.manual_seed(0)
        model = TinyNet(bn=False, dropout=0.0)
        train_loader, val_loader = digits_loaders(batch_size=batch_size)
        cfg = TrainConfig(
            epochs=1,
            batch_size=batch_size,
            grad_accum=accum,
            limit_batches=4 * accum,
            output=str(out),
            verbose=False,
            device="cpu",
        )
        Trainer(model, train_loader, val_loader, cfg).fit()
        return model.state_dict()

    big, accumulated = run(32, 1, tmp_path / "a"), run(16, 2, tmp_path / "b")
    for k in big:
        torch.testing.assert_close(big[k], accumulated[k], rtol=1e-5, atol=1e-6)


def test_model_ema_update_rule():
    model = nn.BatchNorm1d(2)
    ema = ModelEma(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.running_mean.fill_(-1.0)
    model.num_batches_tracked += 5
    ema.update(model)
    assert torch.allclose(ema.module.weight, torch.full((2,), 0.75 * 1.0 + 0.25 * 3.0))
    assert torch.allclose(ema.module.running_mean, torch.full((2,), 0.25 * -1.0))
    assert int(ema.module.num_batches_tracked) == 5 and ema.updates == 1
    assert not ema.module.weight.requires_grad


def test_ema_weights_are_evaluated_and_saved_as_best(tmp_path):
    train_loader, val_loader = digits_loaders()
    cfg = TrainConfig(epochs=1, ema=True, ema_decay=0.9, output=str(tmp_path), **QUICK)
    trainer = Trainer(TinyNet(), train_loader, val_loader, cfg)
    trainer.fit()
    best = load_checkpoint(tmp_path / "best.pt")["model"]
    assert_same_tensors(best, trainer.ema.module.state_dict())
    assert not torch.equal(best["fc.weight"], trainer.model.fc.weight)


def test_mixup_actually_mixes():
    """Mixup blends two images and their one-hot labels with one weight; cutmix pastes a box."""
    from cnnzoo.training.parts import batch_mix

    x = torch.stack([torch.full((1, 8, 8), float(i)) for i in range(8)])
    y = torch.arange(8)
    for key in ("mixup", "cutmix"):
        torch.manual_seed(1)
        mixed_x, mixed_y = batch_mix(TrainConfig(**{key: 1.0}), 10)(x.clone(), y)
        assert mixed_y.shape == (8, 10) and torch.allclose(mixed_y.sum(1), torch.ones(8))
        two_labels = (mixed_y > 0).sum(1) == 2
        assert bool(two_labels.all())  # every image is now two images (alpha 1: lambda in (0, 1))
        assert not torch.equal(mixed_x, x)
        for i in range(8):  # each mixed image holds exactly the values of its two sources
            sources = mixed_y[i].nonzero().flatten().tolist()
            if key == "cutmix":
                assert set(mixed_x[i].unique().tolist()) == {float(s) for s in sources}
            else:
                lam = mixed_y[i, i].item()
                other = [s for s in sources if s != i][0]
                assert torch.allclose(mixed_x[i], lam * x[i] + (1 - lam) * x[other])
    assert batch_mix(TrainConfig(), 10) is None


def test_mixup_cutmix_label_smoothing(tmp_path):
    train_loader, val_loader = digits_loaders()
    cfg = TrainConfig(epochs=1, mixup=0.2, cutmix=1.0, label_smoothing=0.1, output=str(tmp_path), **QUICK)
    res = Trainer(TinyNet(), train_loader, val_loader, cfg).fit()
    assert math.isfinite(res.history[0]["train_loss"]) and 0 <= res.history[0]["train_acc"] <= 100


# ---------------------------------------------------------------- the output directory
def test_output_dir_lock_refuses_a_live_run_and_takes_over_a_dead_ones(tmp_path):
    (tmp_path / ".lock").write_text(f"{os.getppid()}\n")  # a live process other than us
    with pytest.raises(OutputDirError, match="in use by another run"):
        RunLock(tmp_path).acquire()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(dead.stdout)
    lock = RunLock(tmp_path).acquire()
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    with pytest.raises(OutputDirError, match="in use"):
        RunLock(tmp_path).acquire()  # a second run while we hold it
    lock.release()
    assert not (tmp_path / ".lock").exists()


def test_output_that_is_a_file_is_refused(tmp_path, tiny):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputDirError, match="is a file"):
        cnnzoo.train(tiny, output=str(f), **QUICK)
    with pytest.raises(OutputDirError, match="parents is a file"):
        cnnzoo.train(tiny, output=str(f / "sub"), **QUICK)
