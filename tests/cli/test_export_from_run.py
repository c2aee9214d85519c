"""export takes the model from a run's checkpoint (as predict and eval do), and every exported file
carries the class names and preprocessing, read back with each format's own loader."""

import json

import pytest
import torch
from helpers import cli_error, image_folder, run_cli

import cnnzoo
from cnnzoo.apps.export import export_metadata

QUICK = dict(epochs=1, verbose=False, device="cpu", threads=1, workers=0)


@pytest.fixture(scope="module")
def run_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("exportrun")
    data = image_folder(root / "data", classes=("ant", "bee", "cat"), n=2)
    result = cnnzoo.train(model="lenet5", data=str(data), batch_size=2, output=str(root / "run"), **QUICK)
    state = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)
    return result.best_checkpoint, state


def check_carried(meta: dict[str, str], state: dict) -> None:
    assert meta["cnnzoo.model"] == "lenet5"
    assert json.loads(meta["cnnzoo.classes"]) == state["classes"] == ["ant", "bee", "cat"]
    prep = json.loads(meta["cnnzoo.preprocessing"])
    assert {k: prep[k] for k in state["preprocessing"]} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in state["preprocessing"].items()}


def test_pt2_from_a_run_without_model(capsys, tmp_path, run_checkpoint):
    best, state = run_checkpoint
    code, out, _ = run_cli(capsys, "export", "--pretrained", str(best), "--output", str(tmp_path / "m.pt2"))
    assert code == 0 and "metadata: lenet5, weights " in out and "3 class names, preprocessing" in out
    meta = {k: "" for k in ("cnnzoo.model", "cnnzoo.classes", "cnnzoo.preprocessing")}
    program = torch.export.load(tmp_path / "m.pt2", extra_files=meta)
    check_carried(meta, state)
    assert program.module()(torch.zeros(2, 1, 32, 32)).shape == (2, 3)  # the run's 3-class head


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_carries_the_metadata(capsys, tmp_path, run_checkpoint):
    best, state = run_checkpoint
    code, _, _ = run_cli(capsys, "export", "--pretrained", str(best), "--output", str(tmp_path / "m.pt"))
    meta = {k: "" for k in ("cnnzoo.model", "cnnzoo.classes", "cnnzoo.preprocessing")}
    torch.jit.load(tmp_path / "m.pt", _extra_files=meta)
    assert code == 0
    check_carried({k: v.decode() if isinstance(v, bytes) else v for k, v in meta.items()}, state)


@pytest.mark.slow
def test_onnx_carries_the_metadata(capsys, tmp_path, run_checkpoint):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    best, state = run_checkpoint
    code, _, _ = run_cli(capsys, "export", "--pretrained", str(best), "--output", str(tmp_path / "m.onnx"))
    assert code == 0
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    check_carried(props, state)


def test_random_weights_carry_the_models_preprocessing_and_no_classes():
    meta = export_metadata(cnnzoo.create_model("resnet18", num_classes=4))
    assert set(meta) == {"cnnzoo.model", "cnnzoo.preprocessing"}
    assert json.loads(meta["cnnzoo.preprocessing"])["input_size"] == [3, 224, 224]
    tagged = export_metadata(cnnzoo.create_model("lenet5", pretrained=True))
    assert tagged["cnnzoo.weights"] == "lenet5.digits" and json.loads(tagged["cnnzoo.classes"]) == list("0123456789")


@pytest.mark.parametrize("argv, words", [
    (["export", "--output", "x.pt2"], "give --model NAME, or --pretrained"),
    (["export", "--pretrained", "--output", "x.pt2"], "give --model NAME, or --pretrained"),
    (["export", "--model", "lenet5", "--pretrained", "--num-classes", "3", "--output", "x.pt2"], "--num-classes"),
])
def test_what_export_cannot_know_is_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    assert words in cli_error(capsys, argv)
    assert not list(tmp_path.iterdir())
