"""timm's weights from the Hugging Face Hub cache a timm user already has, and hf-hub: references.

The cache is built here as huggingface_hub lays it out (models--ORG--NAME/refs/main, the
commit's snapshot folder of links into blobs/): no network is used.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
import timm
import torch
from helpers import assert_same_outputs, put_in_hub_cache, randomise
from safetensors.torch import save as safetensors_bytes

import cnnzoo
from cnnzoo.errors import HashMismatchError, OfflineError, WeightsError
from cnnzoo.weights import cache, hfhub
from cnnzoo.weights.catalogue import CATALOGUE


def timm_weights(arch: str = "resnetv2_18") -> tuple[torch.nn.Module, bytes]:
    model = randomise(timm.create_model(arch, pretrained=False))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    return model, safetensors_bytes(state)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf-hub-cache"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_catalogued_hub_file_is_read_from_the_hf_cache(hub_cache):
    entry = CATALOGUE[cnnzoo.weights.default_tag("resnet18v2")]
    assert entry.hf_hub_id == "timm/resnetv2_18.ra4_e3600_r224_in1k"
    reference, body = timm_weights()
    put_in_hub_cache(hub_cache, entry.hf_hub_id, {"model.safetensors": body})
    before = files_under(hub_cache)
    assert cnnzoo.list_weights("resnet18v2*")[0]["cached"] is True
    with pytest.warns(UserWarning, match="trusting this first copy"):  # no published SHA-256: TOFU
        model = cnnzoo.create_model("resnet18v2", pretrained=True)  # CNNZOO_OFFLINE=1 (conftest)
    assert_same_outputs(model, reference, torch.randn(2, 3, 64, 64))
    assert model.pretrained_cfg["file"].startswith(str(hub_cache))
    assert files_under(hub_cache) == before  # the Hub's cache is read, never written by cnnzoo
    record = cache.cache_dir() / (entry.filename + ".sha256")
    assert record.read_text().strip() == hashlib.sha256(body).hexdigest()
    assert not (cache.cache_dir() / entry.filename).exists()  # not copied into cnnzoo's cache
    # the file under the cache's name changed since it was first trusted: refused
    blob = next((hub_cache / ("models--" + entry.hf_hub_id.replace("/", "--")) / "blobs").iterdir())
    blob.write_bytes(timm_weights()[1])
    with pytest.raises(HashMismatchError, match="first copy"):
        cnnzoo.create_model("resnet18v2", pretrained=True)


def test_offline_without_the_file_names_both_caches(hub_cache):
    with pytest.raises(OfflineError, match="not in the cache"):
        cnnzoo.create_model("resnet18v2", pretrained=True)


def test_hf_hub_reference_uses_its_config(hub_cache):
    reference, body = timm_weights()
    config = {
        "architecture": "resnetv2_18",
        "num_classes": 1000,
        "pretrained_cfg": {
            "input_size": [3, 256, 256],
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "crop_pct": 0.95,
            "interpolation": "bicubic",
            "license": "apache-2.0",
        },
    }
    put_in_hub_cache(
        hub_cache, "someone/rn18v2-finetune", {"model.safetensors": body, "config.json": json.dumps(config).encode()}
    )
    model = cnnzoo.create_model("resnet18v2", pretrained="hf-hub:someone/rn18v2-finetune")
    assert_same_outputs(model, reference, torch.randn(2, 3, 64, 64))
    cfg = model.pretrained_cfg
    assert cfg["tag"] == "hf-hub:someone/rn18v2-finetune" and cfg["source"] == "hf-hub"
    assert cfg["mean"] == (0.5, 0.5, 0.5) and cfg["crop_pct"] == 0.95 and cfg["interpolation"] == "bicubic"
    assert cfg["input_size"] == (3, 256, 256) and cfg["resize_size"] == int(256 / 0.95)
    assert len(cfg["label_names"]) == 1000
    # timm's own syntax: the config names the architecture
    again = cnnzoo.create_model("hf-hub:someone/rn18v2-finetune", num_classes=7, in_chans=1)
    assert again.arch_name == "resnet18v2" and again.num_classes == 7 and again.in_chans == 1
    assert cfg["label_names"] and again.pretrained_cfg["label_names"] is None  # a new head has no names


def test_a_pytorch_model_bin_is_read_safely(hub_cache):
    reference, _ = timm_weights()
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    put_in_hub_cache(hub_cache, "someone/rn18v2-bin", {"pytorch_model.bin": buffer.getvalue()})
    model = cnnzoo.create_model("resnet18v2", pretrained="hf-hub:someone/rn18v2-bin")
    assert_same_outputs(model, reference, torch.randn(2, 3, 64, 64))


def test_hub_references_that_cannot_be_used_are_clear_errors(hub_cache):
    with pytest.raises(WeightsError, match="hf-hub:ORG/NAME"):
        cnnzoo.create_model("resnet18v2", pretrained="hf-hub:no-slash")
    with pytest.raises(OfflineError, match="Hugging Face cache"):
        cnnzoo.create_model("resnet18v2", pretrained="hf-hub:someone/absent")
    put_in_hub_cache(
        hub_cache,
        "someone/vit",
        {
            "model.safetensors": safetensors_bytes({"w": torch.zeros(1)}),
            "config.json": b'{"architecture": "vit_base_patch16_224"}',
        },
    )
    with pytest.raises(WeightsError, match="vit_base_patch16_224.*no cnnzoo counterpart"):
        cnnzoo.create_model("hf-hub:someone/vit")
    assert hfhub.parse_ref("resnet50") is None
