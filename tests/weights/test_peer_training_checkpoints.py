"""Checkpoints written by the peers' training scripts load with ``weights_only=True``.

timm's ``train.py`` saves through ``timm.utils.CheckpointSaver`` (``model_best.pth.tar``:
``state_dict``, ``optimizer``, ``args`` as an ``argparse.Namespace`` ...); torchvision's
reference ``train.py`` saves ``{"model", "optimizer", "lr_scheduler", "epoch", "args"}``
(``checkpoint.pth``). The Namespace is the one class let in beyond tensors and containers.
"""

import argparse

import pytest
import torch
from helpers import Evil

import cnnzoo
from cnnzoo.errors import UnsafeCheckpointError
from cnnzoo.weights.files import read_weights_file

timm_utils = pytest.importorskip("timm.utils")


def _trained_resnet20() -> torch.nn.Module:
    model = cnnzoo.create_model("resnet20", num_classes=10)
    for p in model.parameters():  # weights unlike a fresh model's, so that loading them shows
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def test_timm_train_py_checkpoint_loads(tmp_path):
    model = _trained_resnet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    args = argparse.Namespace(
        model="cnnzoo_resnet20",
        lr=0.1,
        epochs=2,
        data_dir=str(tmp_path),
        mean=None,
        input_size=[3, 32, 32],
        model_kwargs={},
    )
    saver = timm_utils.CheckpointSaver(model, opt, args=args, checkpoint_dir=str(tmp_path), recovery_dir=str(tmp_path))
    saver.save_checkpoint(epoch=0, metric=12.5)
    best = tmp_path / "model_best.pth.tar"
    assert best.is_file()
    raw = read_weights_file(best)
    assert isinstance(raw["args"], argparse.Namespace) and raw["args"].lr == 0.1
    loaded = cnnzoo.create_model("resnet20", pretrained=best).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), model(x))


def test_torchvision_reference_checkpoint_loads(tmp_path):
    model = _trained_resnet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 30)
    args = argparse.Namespace(model="resnet20", weights=None, lr=0.1, epochs=90, output_dir=str(tmp_path))
    path = tmp_path / "checkpoint.pth"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "lr_scheduler": sched.state_dict(),
            "epoch": 3,
            "args": args,
        },
        path,
    )
    loaded = cnnzoo.create_model("resnet20", pretrained=path).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded(x), model(x))


def test_a_namespace_does_not_open_the_door_to_other_classes(tmp_path):
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": _trained_resnet20().state_dict(), "args": argparse.Namespace(hook=Evil())}, path)
    with pytest.raises(UnsafeCheckpointError, match="arbitrary unpickling"):
        cnnzoo.create_model("resnet20", pretrained=path)
