"""timm's Hub layout, both ways: cnnzoo writes it (timm loads it exactly), cnnzoo reads timm's and pinned revisions."""

import json

import pytest
import torch

import cnnzoo
from cnnzoo.errors import WeightsError

timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")


def _random(name, **kwargs):
    model = cnnzoo.create_model(name, **kwargs)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_a_cnnzoo_resnet18_folder_loads_in_timm_exactly(tmp_path):
    model = _random("resnet18", num_classes=10)
    cnnzoo.save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["num_classes"] == 10 and config["num_features"] == 512
    assert config["pretrained_cfg"]["input_size"] == [3, 224, 224] and config["global_pool"] == "avg"
    assert "library_name: timm" in (tmp_path / "README.md").read_text()
    theirs = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (theirs(x) - model(x)).abs().max().item() == 0
    back = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_a_model_timm_lacks_round_trips_under_its_cnnzoo_name(tmp_path):
    model = _random("resnet20", num_classes=3)
    model.pretrained_cfg["label_names"] = ["cat", "dog", "fox"]
    cnnzoo.save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "cnnzoo/resnet20" and config["label_names"] == ["cat", "dog", "fox"]
    assert "library_name: cnnzoo" in (tmp_path / "README.md").read_text()
    back = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(back(x), model(x))
    assert back.pretrained_cfg["label_names"] == ["cat", "dog", "fox"]


def test_a_resnet_built_otherwise_is_not_claimed_as_timms(tmp_path):
    cnnzoo.save_pretrained(cnnzoo.create_model("resnet18", stem_type="deep"), tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architecture"] == "cnnzoo/resnet18"
    assert "library_name: cnnzoo" in (tmp_path / "README.md").read_text()


def test_a_timm_save_for_hf_folder_loads_in_cnnzoo(tmp_path):
    theirs = timm.create_model("resnet18", num_classes=5).eval()
    timm.models.save_for_hf(theirs, tmp_path)
    ours = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def _fake_hub_snapshot(cache, repo, revision, model):
    snap = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / revision
    snap.mkdir(parents=True)
    safetensors_torch.save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, str(snap / "model.safetensors")
    )
    (snap / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 4}))
    return snap


def test_hf_hub_revision_pins_the_files(tmp_path, monkeypatch):
    # huggingface_hub's cache layout, offline (tests never reach the network)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    old, new = _random("resnet18", num_classes=4), _random("resnet18", num_classes=4)
    main_rev, pinned_rev = "a" * 40, "b" * 40
    _fake_hub_snapshot(tmp_path, "someone/net", main_rev, new)
    _fake_hub_snapshot(tmp_path, "someone/net", pinned_rev, old)
    refs = tmp_path / "models--someone--net" / "refs"
    refs.mkdir()
    (refs / "main").write_text(main_rev)
    x = torch.randn(1, 3, 64, 64)
    latest = cnnzoo.create_model("hf-hub:someone/net").eval()
    pinned = cnnzoo.create_model(f"hf-hub:someone/net@{pinned_rev}").eval()
    with torch.no_grad():
        assert torch.equal(latest(x), new(x)) and torch.equal(pinned(x), old(x))


def test_a_folder_without_weights_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="no weights file"):
        cnnzoo.create_model(f"local-dir:{tmp_path}")
    with pytest.raises(WeightsError, match="no folder"):
        cnnzoo.create_model(f"local-dir:{tmp_path / 'absent'}")
