"""Pretrained weights: conversion equivalence, adaptation, safe loading, the catalogue.

Equivalence: for every architecture with catalogued torchvision or timm weights, the
upstream model is built with random weights (and random BatchNorm statistics), its state
dict saved to a file, loaded through ``cnnzoo.create_model(name, pretrained=path)`` and
both are run in eval mode: the outputs must agree to 1e-5. Everything runs offline.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import pickle
import re
import sys

import pytest
import timm
import torch
import torchvision
from helpers import meta_model, randomise
from torch import nn

import cnnzoo
from cnnzoo import weights
from cnnzoo.errors import (
    CheckpointError,
    IncompatibleWeightsError,
    InvalidArgumentError,
    MissingDependencyError,
    UnknownWeightsError,
    UnsafeCheckpointError,
    WeightsError,
)
from cnnzoo.weights import cache as hub
from cnnzoo.weights import files
from cnnzoo.weights.catalogue import CATALOGUE, WeightsEntry
from cnnzoo.weights.keymaps import KEY_MAPS

UPSTREAM = sorted({e.architecture for e in CATALOGUE.values() if e.source in ("torchvision", "timm")})
# The outputs of converted weights are compared once per network class, block type and key
# layout (building, saving and loading 100M+ parameters twice takes > 20 s per big model);
# every other catalogued model shares its code with one of these and has its state-dict
# layout checked key by key below (test_state_dict_layout_matches_upstream).
EQUIVALENCE = [
    "alexnet",
    "vgg11_bn",
    "googlenet",
    "resnet18",
    "resnext50_32x4d",
    "densenet121",
    "mobilenet_v2",
    "resnet18v2",
    "resnet50v2",
    "se_resnet18",
    "se_resnet50",
    "se_resnext50_32x4d",
    "mobilenet_v1",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # on a shared two-core machine, two intra-op threads spin against other processes and
    # make these forwards 10x slower; one thread is plenty for batch-2, 64x64 inputs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def entry_of(arch: str) -> WeightsEntry:
    return CATALOGUE[weights.default_tag(arch)]


def upstream_model(arch: str, **kwargs) -> nn.Module:
    """The torchvision or timm model the catalogued weights of ``arch`` were saved from."""
    entry = entry_of(arch)
    if entry.source == "torchvision":
        if arch == "googlenet":  # the published file keeps the (untrained) auxiliary heads
            kwargs = {"aux_logits": True, "init_weights": True, **kwargs}
        return randomise(torchvision.models.get_model(arch, weights=None, **kwargs))
    return randomise(timm.create_model(entry.upstream.split(".")[0], pretrained=False, **kwargs))


def upstream_on_meta(arch: str) -> nn.Module:
    entry = entry_of(arch)
    with torch.device("meta"):
        if entry.source == "torchvision":
            kwargs = {"aux_logits": True, "init_weights": False} if arch == "googlenet" else {}
            return torchvision.models.get_model(arch, weights=None, **kwargs)
        return timm.create_model(entry.upstream.split(".")[0], pretrained=False)


def save(state: dict, path, fmt: str = "pth") -> str:
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return str(path)


def input_for(arch: str, batch: int = 2) -> torch.Tensor:
    size = max(64, cnnzoo.model_info(arch)["min_input_size"][-1])
    return torch.randn(batch, 3, size, size)


def max_diff(arch: str, tmp_path, fmt: str = "pth", legacy_densenet: bool = False) -> float:
    ref = upstream_model(arch)
    state = ref.state_dict()
    if legacy_densenet:  # the published DenseNet files: "denselayer1.norm.1.weight"
        state = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    path = save(state, tmp_path / f"{arch}.{fmt}", fmt)
    ours = cnnzoo.create_model(arch, pretrained=path).eval()
    x = input_for(arch)
    with torch.no_grad():
        return (ours(x) - ref(x)).abs().max().item()


@pytest.mark.parametrize("arch", UPSTREAM)
def test_state_dict_layout_matches_upstream(arch):
    """Every catalogued file's layout, converted, is the model's: same keys and shapes (meta device)."""
    theirs = upstream_on_meta(arch).state_dict()
    entry = entry_of(arch)
    mapped = theirs if entry.layout == "torchvision" else KEY_MAPS[entry.layout](theirs)
    ours = meta_model(arch).state_dict()
    if entry.layout == "torchvision":  # identity: the same names in the same order
        assert list(mapped) == list(ours)
    assert {k: tuple(v.shape) for k, v in mapped.items()} == {k: tuple(v.shape) for k, v in ours.items()}


#: VGG's 120M fully connected weights, built twice, take ~10 s; the larger members of a layout whose key
#: map a smaller one checks in the fast tier (ResNeXt-50 as ResNet-18, ResNet-50 v2 as ResNet-18 v2,
#: SE-ResNeXt-50 as SE-ResNet-50) take 3-4 s each: the slow tier checks them
_SLOW_EQUIVALENCE = ("vgg11_bn", "senet154", "resnext50_32x4d", "resnet50v2", "se_resnext50_32x4d")


@pytest.mark.parametrize(
    "arch",
    [pytest.param(a, marks=pytest.mark.slow) if a in _SLOW_EQUIVALENCE else a for a in [*EQUIVALENCE, "senet154"]],
)
def test_converted_weights_give_the_same_outputs(arch, tmp_path):
    assert max_diff(arch, tmp_path) <= 1e-5


@pytest.mark.parametrize("arch", ["resnet50v2", "mobilenet_v1"])
def test_timm_safetensors_files_load(arch, tmp_path):
    assert max_diff(arch, tmp_path, fmt="safetensors") <= 1e-5


def test_densenet_legacy_keys_are_mapped(tmp_path):
    assert max_diff("densenet121", tmp_path, legacy_densenet=True) <= 1e-5


def test_format_is_detected_by_content_not_suffix(tmp_path):
    ref = upstream_model("mobilenet_v1")
    path = save(ref.state_dict(), tmp_path / "really_safetensors.pth", "safetensors")
    ours = cnnzoo.create_model("mobilenet_v1", pretrained=path).eval()
    x = input_for("mobilenet_v1")
    assert torch.allclose(ours(x), ref(x), atol=1e-5, rtol=0)


def test_missing_safetensors_package_is_a_clear_error(tmp_path, monkeypatch):
    path = save(nn.Linear(2, 2).state_dict(), tmp_path / "w.safetensors", "safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(MissingDependencyError, match="pip install safetensors"):
        files.read_weights_file(path)


def test_googlenet_without_aux_heads_loads_the_published_layout(tmp_path):
    ref = upstream_model("googlenet", transform_input=False)
    path = save(ref.state_dict(), tmp_path / "g.pth")
    ours = cnnzoo.create_model("googlenet", pretrained=path, aux_logits=False).eval()
    x = input_for("googlenet")
    assert torch.allclose(ours(x), ref(x), atol=1e-5, rtol=0)


def test_googlenet_tag_sets_transform_input(tmp_path, monkeypatch):
    ref = upstream_model("googlenet", transform_input=True)
    buffer = io.BytesIO()
    torch.save(ref.state_dict(), buffer)
    entry = CATALOGUE["googlenet.tv_in1k"]
    cached = hub.cache_dir() / entry.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(buffer.getvalue())
    digest = hub.sha256_file(cached)
    monkeypatch.setitem(CATALOGUE, entry.tag, dataclasses.replace(entry, sha256=digest, hash_prefix=None))
    ours = cnnzoo.create_model("googlenet", pretrained=True).eval()
    assert ours.transform_input is True
    assert ours.pretrained_cfg["tag"] == "googlenet.tv_in1k"
    x = input_for("googlenet")
    assert torch.allclose(ours(x), ref(x), atol=1e-5, rtol=0)


def test_a_local_copy_of_a_catalogued_file_gets_its_preprocessing(tmp_path, monkeypatch):
    ref = upstream_model("resnet18")
    path = save(ref.state_dict(), tmp_path / "resnet18-f37072fd.pth")
    entry = CATALOGUE["resnet18.tv_in1k"]
    monkeypatch.setitem(CATALOGUE, entry.tag, dataclasses.replace(entry, sha256=hub.sha256_file(path)))
    cfg = cnnzoo.create_model("resnet18", pretrained=path).pretrained_cfg
    assert cfg["tag"] == "resnet18.tv_in1k"
    assert cfg["resize_size"] == 256 and cfg["crop_pct"] == 0.875
    assert len(cfg["label_names"]) == 1000 and cfg["label_names"][0] == "tench"
    # the published preprocessing, adapted to other input channels like the first conv
    cfg = cnnzoo.create_model("resnet18", pretrained=path, in_chans=5).pretrained_cfg
    assert cfg["mean"] == (0.485, 0.456, 0.406, 0.485, 0.456) and cfg["input_size"] == (5, 224, 224)
    cfg = cnnzoo.create_model("resnet18", pretrained=path, in_chans=1, num_classes=3).pretrained_cfg
    assert cfg["mean"] == (0.449,) and cfg["std"] == (0.226,) and cfg["label_names"] is None
    with pytest.raises(IncompatibleWeightsError, match="create_model\\('resnet18'"):
        cnnzoo.create_model("resnet34", pretrained=path)


# ---------------------------------------------------------------- wrappers and prefixes
@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3},  # timm's train checkpoints
        lambda sd: {"model": sd, "model_name": "resnet18", "config": {"lr": 0.1}},  # cnnzoo's
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DDP
        lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},  # torch.compile
    ],
    ids=["timm", "cnnzoo", "ddp", "compile"],
)
def test_checkpoint_wrappers_and_prefixes(wrap, tmp_path):
    ref = upstream_model("resnet18")
    path = save(wrap(ref.state_dict()), tmp_path / "ckpt.pt")
    ours = cnnzoo.create_model("resnet18", pretrained=path).eval()
    x = input_for("resnet18")
    assert torch.allclose(ours(x), ref(x), atol=1e-5, rtol=0)


def test_checkpoint_of_another_model_names_both(tmp_path):
    sd = cnnzoo.create_model("resnet18").state_dict()
    path = save({"model": sd, "model_name": "resnet18"}, tmp_path / "ckpt.pt")
    with pytest.raises(IncompatibleWeightsError, match="'resnet18', not 'resnet34'"):
        cnnzoo.create_model("resnet34", pretrained=path)


def test_mismatched_architecture_names_keys_and_suggests_the_right_model(tmp_path):
    path = save(cnnzoo.create_model("resnet18").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(IncompatibleWeightsError) as err:
        cnnzoo.create_model("resnet34", pretrained=path)
    message = str(err.value)
    assert "missing" in message and "layer1.2.conv1.weight" in message
    assert "fits 'resnet18'" in message


def test_a_cnnzoo_checkpoint_keeps_its_class_count(tmp_path):
    sd = cnnzoo.create_model("resnet18", num_classes=7, in_chans=1).state_dict()
    path = save({"model": sd, "model_name": "resnet18"}, tmp_path / "ckpt.pt")
    model = cnnzoo.create_model("resnet18", pretrained=path)
    assert model.num_classes == 7 and model.in_chans == 1
    assert torch.equal(model.fc.weight, sd["fc.weight"])


# ---------------------------------------------------------------- head and input adaptation
@pytest.fixture
def resnet18_file(tmp_path):
    state = upstream_model("resnet18").state_dict()
    return state, save(state, tmp_path / "r18.pth")


def test_new_head_loads_everything_else(resnet18_file, caplog):
    state, path = resnet18_file
    with caplog.at_level(logging.INFO, logger="cnnzoo"):
        model = cnnzoo.create_model("resnet18", pretrained=path, num_classes=10)
    assert model.fc.weight.shape == (10, 512)
    assert not torch.equal(model.fc.weight[:10], state["fc.weight"][:10])
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert any("new 10-class classifier" in r.getMessage() for r in caplog.records)
    assert model.pretrained_cfg["num_classes"] == 10


def test_num_classes_zero_gives_features(resnet18_file):
    state, path = resnet18_file
    model = cnnzoo.create_model("resnet18", pretrained=path, num_classes=0).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 512)
    assert torch.equal(model.conv1.weight, state["conv1.weight"])


def test_one_input_channel_sums_the_rgb_filters(resnet18_file):
    state, path = resnet18_file
    model = cnnzoo.create_model("resnet18", pretrained=path, in_chans=1)
    w = state["conv1.weight"]
    assert torch.allclose(model.conv1.weight, w[:, 0:1] + w[:, 1:2] + w[:, 2:3])
    assert torch.equal(model.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])
    assert len(model.pretrained_cfg["mean"]) == 1


def test_five_input_channels_repeat_rgb_cyclically_and_rescale(resnet18_file):
    state, path = resnet18_file
    model = cnnzoo.create_model("resnet18", pretrained=path, in_chans=5)
    w = state["conv1.weight"]
    expected = torch.cat([w[:, 0:1], w[:, 1:2], w[:, 2:3], w[:, 0:1], w[:, 1:2]], dim=1) * (3 / 5)
    assert torch.allclose(model.conv1.weight, expected)


def test_adapted_gray_model_matches_rgb_model_on_gray_images(resnet18_file):
    # the reason for summing: a gray image repeated in R, G, B gives the same outputs
    _, path = resnet18_file
    rgb = cnnzoo.create_model("resnet18", pretrained=path).eval()
    gray = cnnzoo.create_model("resnet18", pretrained=path, in_chans=1).eval()
    x = torch.randn(2, 1, 64, 64)
    assert torch.allclose(gray(x), rgb(x.expand(-1, 3, -1, -1)), atol=1e-4)


def test_googlenet_new_head_also_replaces_the_auxiliary_classifiers(tmp_path):
    path = save(upstream_model("googlenet").state_dict(), tmp_path / "g.pth")
    model = cnnzoo.create_model("googlenet", pretrained=path, num_classes=10)
    assert model.aux1.fc2.out_features == 10 and model.fc.out_features == 10


def test_lenet5_weights_into_three_channels(tmp_path):
    model = cnnzoo.create_model("lenet5", pretrained=True, in_chans=3)
    src = cnnzoo.create_model("lenet5", pretrained=True)
    assert torch.allclose(model.features.c1.weight, src.features.c1.weight.repeat(1, 3, 1, 1) / 3)
    assert model.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)


# ---------------------------------------------------------------- safety
class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: the attack a weights-only loader blocks."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match="arbitrary unpickling"):
        cnnzoo.create_model("resnet18", pretrained=str(path))
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_plain_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"payload": _Payload(str(marker))}, f)
    with pytest.raises((UnsafeCheckpointError, CheckpointError)):
        files.read_weights_file(path)
    assert not marker.exists()


def test_truncated_and_garbage_files_are_clear_errors(tmp_path):
    good = io.BytesIO()
    torch.save({"w": torch.zeros(1000)}, good)
    (tmp_path / "cut.pth").write_bytes(good.getvalue()[:500])
    (tmp_path / "junk.pth").write_bytes(os.urandom(2000))
    for name in ("cut.pth", "junk.pth"):
        with pytest.raises(CheckpointError):
            files.read_weights_file(tmp_path / name)


def test_non_tensor_values_are_refused(tmp_path):
    path = save({"conv1.weight": torch.zeros(1), "step": 3}, tmp_path / "x.pth")
    with pytest.raises(WeightsError, match="'step' holds a int"):
        weights.read_state_dict(path)


# ---------------------------------------------------------------- resolving names
def test_unknown_tags_and_models_without_weights():
    with pytest.raises(UnknownWeightsError, match="tv2_in1k"):
        cnnzoo.create_model("resnet50.tv3_in1k")
    with pytest.raises(UnknownWeightsError, match="zfnet"):
        cnnzoo.create_model("zfnet", pretrained=True)
    with pytest.raises(UnknownWeightsError, match="did you mean"):
        weights.get_entry("resnt50.tv2_in1k")


def test_pretrained_accepts_a_tag_string_and_refuses_a_missing_file():
    assert cnnzoo.create_model("lenet5", pretrained="digits").pretrained_cfg["tag"] == "lenet5.digits"
    assert cnnzoo.create_model("lenet5", pretrained="lenet5.digits").pretrained_cfg["tag"] == "lenet5.digits"
    with pytest.raises(WeightsError, match="no weights file at"):
        cnnzoo.create_model("lenet5", pretrained="/nonexistent/w.pth")
    with pytest.raises(InvalidArgumentError):
        cnnzoo.create_model("lenet5", pretrained=3)


def test_timm_names_find_the_same_file():
    assert weights.get_entry("legacy_seresnet50.in1k").tag == "se_resnet50.in1k"
    assert weights.get_entry("resnet50").tag == "resnet50.tv2_in1k"


def test_model_info_lists_tags_default_first():
    assert cnnzoo.model_info("resnet50")["pretrained_tags"] == ["resnet50.tv2_in1k", "resnet50.tv_in1k"]
    assert cnnzoo.model_info("zfnet")["pretrained_tags"] == []


# ---------------------------------------------------------------- the shipped LeNet-5
def test_shipped_lenet5_loads_offline_and_classifies_the_validation_digits():
    from cnnzoo.data import digits_dataset

    assert hub.is_offline()  # conftest; the weights ship inside the package
    model = cnnzoo.create_model("lenet5", pretrained=True).eval()
    val = digits_dataset("val")
    with torch.no_grad():
        acc = (model(val.images).argmax(1) == val.labels).float().mean().item()
    assert acc >= 0.97
    assert abs(100 * acc - CATALOGUE["lenet5.digits"].top1) < 0.01  # the catalogue is truthful
    cfg = model.pretrained_cfg
    assert cfg["tag"] == "lenet5.digits" and cfg["num_classes"] == 10
    assert cfg["input_size"] == (1, 32, 32) and cfg["resize_size"] == 32 and cfg["crop_pct"] == 1.0
    assert cfg["mean"] == (0.5,) and cfg["std"] == (0.5,) and cfg["interpolation"] == "bilinear"
    assert cfg["label_names"] == [str(i) for i in range(10)]


# ---------------------------------------------------------------- the catalogue itself
def test_catalogue_is_consistent():
    defaults: dict[str, int] = {}
    for tag, e in CATALOGUE.items():
        assert tag == e.tag and tag.startswith(e.architecture + ".")
        assert cnnzoo.list_models(e.architecture) == [e.architecture], tag
        defaults[e.architecture] = defaults.get(e.architecture, 0) + e.default
        if e.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", e.sha256) and e.sha256.startswith(e.hash_prefix or "")
        if e.hash_prefix:
            assert f"-{e.hash_prefix}." in e.url
        assert e.layout in ("torchvision", "cnnzoo") or e.layout in cnnzoo.weights.keymaps.KEY_MAPS, tag
        assert len(e.mean) == len(e.std) == e.input_size[0]
        assert e.resize_size >= e.input_size[-1]
        if e.accuracy_input_size is not None:  # said in words too, for the reader of `info`
            assert f"{e.accuracy_input_size[1]}x{e.accuracy_input_size[2]}" in e.notes
    assert all(n == 1 for n in defaults.values()), defaults
    assert len(weights.label_names(CATALOGUE["resnet50.tv2_in1k"])) == 1000


def test_catalogue_matches_the_installed_torchvision():
    from torchvision.models import get_model_weights

    for e in CATALOGUE.values():
        if e.source != "torchvision":
            continue
        enum = get_model_weights(e.architecture)
        w = enum[e.upstream]
        assert w.url == e.url
        assert w.meta["_metrics"]["ImageNet-1K"]["acc@1"] == e.top1
        assert w.meta["_metrics"]["ImageNet-1K"]["acc@5"] == e.top5
        t = w.transforms()
        assert t.resize_size == [e.resize_size] and t.crop_size == [224]
        assert tuple(t.mean) == e.mean and tuple(t.std) == e.std
        assert (w == enum.DEFAULT) == e.default


def test_catalogue_matches_the_installed_timm():
    for e in CATALOGUE.values():
        if e.source != "timm":
            continue
        cfg = timm.models.get_pretrained_cfg(e.upstream)
        assert e.url == (cfg.url or f"https://huggingface.co/{cfg.hf_hub_id}/resolve/main/model.safetensors")
        assert (e.mean, e.std, e.crop_pct) == (tuple(cfg.mean), tuple(cfg.std), cfg.crop_pct)
        assert e.interpolation == cfg.interpolation
        assert e.resize_size == math.floor(224 / cfg.crop_pct)


def test_list_weights_rows():
    rows = cnnzoo.list_weights("resnet50*")
    assert [r["tag"] for r in rows] == ["resnet50.tv_in1k", "resnet50.tv2_in1k", "resnet50v2.a1h_in1k"]
    assert rows[1]["default"] and rows[1]["top1"] == 80.858 and rows[1]["hash_status"] == "sha256"
    assert rows[2]["hash_status"] == "tofu" and rows[2]["cached"] is False
    info = cnnzoo.weights_info("lenet5")
    assert info["tag"] == "lenet5.digits" and info["cached"] is True
