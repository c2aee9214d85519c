"""``cnnzoo export --format hub`` writes timm's Hub layout, which cnnzoo and timm read back."""

import json

import pytest
import torch
from helpers import run_cli

import cnnzoo

pytest.importorskip("safetensors")


def test_export_hub_folder_round_trips(capsys, tmp_path):
    out = tmp_path / "hub"
    code, stdout, _ = run_cli(
        capsys, "export", "--model", "resnet20", "--num-classes", "4", "--format", "hub", "--output", str(out)
    )
    assert code == 0 and "Hub layout" in stdout
    assert json.loads((out / "config.json").read_text())["num_classes"] == 4
    model = cnnzoo.create_model(f"local-dir:{out}").eval()
    assert model.num_classes == 4 and torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()
