"""The run directory as the unit: export takes the model from a run's checkpoint (as predict and eval
do) and every exported file carries the class names and preprocessing, read back with each format's
own loader; eval --data takes a folder of class folders (no train/); predict takes a folder of images."""

import json

import pytest
import torch
from helpers import cli_error, image_folder, run_cli

import cnnzoo
from cnnzoo.apps.export import export_metadata

QUICK = dict(epochs=1, verbose=False, device="cpu", threads=1, workers=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch lenet5 run on an image folder of 3 classes: (its best.pt, the folder)."""
    root = tmp_path_factory.mktemp("rundir")
    data = image_folder(root / "data", classes=("ant", "bee", "cat"), n=2)
    result = cnnzoo.train(model="lenet5", data=str(data), batch_size=2, output=str(root / "run"), **QUICK)
    return str(result.best_checkpoint), data


@pytest.fixture(scope="module")
def run_checkpoint(trained):
    """(the run's best.pt, its contents)"""
    best, _ = trained
    return best, torch.load(best, map_location="cpu", weights_only=True)


def check_carried(meta: dict[str, str], state: dict) -> None:
    assert meta["cnnzoo.model"] == "lenet5"
    assert json.loads(meta["cnnzoo.classes"]) == state["classes"] == ["ant", "bee", "cat"]
    prep = json.loads(meta["cnnzoo.preprocessing"])
    assert {k: prep[k] for k in state["preprocessing"]} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in state["preprocessing"].items()
    }


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


@pytest.mark.parametrize(
    "argv, words",
    [
        (["export", "--output", "x.pt2"], "give the model (--model NAME) or a run's checkpoint (--pretrained PATH)"),
        (["export", "--pretrained", "--output", "x.pt2"], "give the model (--model NAME) or a run's checkpoint"),
        (["export", "--model", "lenet5", "--pretrained", "--num-classes", "3", "--output", "x.pt2"], "--num-classes"),
    ],
)
def test_what_export_cannot_know_is_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    assert words in cli_error(capsys, argv)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- folders
def test_eval_on_a_folder_of_class_folders_is_eval_on_the_runs_val(capsys, trained):
    best, data = trained
    code, out, _ = run_cli(capsys, "eval", "--checkpoint", best, "--device", "cpu", "--workers", "0", "--json")
    assert code == 0
    as_run = json.loads(out)
    code, out, _ = run_cli(
        capsys, "eval", "--checkpoint", best, "--data", str(data / "val"), "--device", "cpu", "--workers", "0", "--json"
    )
    flat = json.loads(out)
    assert code == 0 and flat["data"] == str(data / "val") and flat["images"] == as_run["images"] == 6
    assert flat["val_loss"] == pytest.approx(as_run["val_loss"]) and flat["val_top1"] == as_run["val_top1"]


def test_eval_on_other_class_names_is_one_line(capsys, trained, tmp_path):
    best, _ = trained
    other = image_folder(tmp_path / "other", classes=("ant", "bee", "dog"), n=1) / "val"
    line = cli_error(capsys, ["eval", "--checkpoint", best, "--data", str(other), "--device", "cpu"])
    assert "ant, bee, dog" in line and "ant, bee, cat" in line
    (tmp_path / "empty").mkdir()
    line = cli_error(capsys, ["eval", "--checkpoint", best, "--data", str(tmp_path / "empty"), "--device", "cpu"])
    assert "class folders" in line


def test_predict_a_folder_is_predicting_its_images(capsys, trained):
    best, data = trained
    folder = data / "val" / "bee"
    files = sorted(str(p) for p in folder.iterdir())
    code, out, _ = run_cli(capsys, "predict", "--pretrained", best, str(folder), "--json")
    by_folder = json.loads(out)
    code2, out, _ = run_cli(capsys, "predict", "--pretrained", best, *files, "--json")
    assert code == code2 == 0 and len(files) == 2
    assert [r["image"] for r in by_folder] == files
    assert [r["top"] for r in by_folder] == [r["top"] for r in json.loads(out)]
    assert {t["label"] for r in by_folder for t in r["top"]} == {"ant", "bee", "cat"}


def test_predict_a_folder_without_images_says_what_it_holds(capsys, trained, tmp_path):
    best, data = trained
    line = cli_error(capsys, ["predict", "--pretrained", best, str(data / "val")])
    assert "no image files" in line and "ant, bee, cat" in line and "cnnzoo eval --data" in line
    (tmp_path / "empty").mkdir()
    line = cli_error(capsys, ["predict", "--pretrained", best, str(tmp_path / "empty")])
    assert "is a directory with no image files" in line
