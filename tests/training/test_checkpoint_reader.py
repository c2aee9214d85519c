"""The one checkpoint reader: it checks what the trainer writes (one description, shared), refuses a
checkpoint that does not belong to the run it joins, and maps weights instead of reading them whole."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import cli_error, image_folder

import cnnzoo
import cnnzoo.reading
from cnnzoo.errors import CheckpointError, WeightsError
from cnnzoo.models.googlenet import GoogLeNetOutputs
from cnnzoo.training.parts import EpochTotals
from cnnzoo.weights.checkpoint import Checkpoint, WeightsCheckpoint, checkpoint_problem, load_checkpoint

RUN = dict(model="lenet5", epochs=1, limit_batches=1, batch_size=8, threads=1, workers=0, verbose=False)


@pytest.fixture(scope="module")
def pets(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A one-epoch lenet5 run on [cat, dog], its data, and a folder of [ant, bee] (as many classes)."""
    root = tmp_path_factory.mktemp("reader")
    data, other = image_folder(root / "pets"), image_folder(root / "insects", classes=("ant", "bee"))
    cnnzoo.train(data=str(data), output=str(root / "run"), **RUN)
    return root / "run", data, other


def _cnnzoo(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(cnnzoo.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "cnnzoo", *argv], capture_output=True, text=True, timeout=120, env=env)


def test_the_reader_checks_exactly_the_entries_the_trainer_writes(pets):
    run, _, _ = pets
    last, best = load_checkpoint(run / "last.pt"), load_checkpoint(run / "best.pt")
    assert set(last) == {f.name for f in dataclasses.fields(Checkpoint)}
    assert set(best) == {f.name for f in dataclasses.fields(WeightsCheckpoint)}
    for key in last:  # every entry written is one the reader checks: a value of no type it allows is named
        problem = checkpoint_problem({**last, key: object()})
        assert problem is not None and repr(key) in problem, key


def test_resume_and_eval_on_data_of_other_classes_are_one_line(capsys, pets):
    run, _, other = pets
    resume = cli_error(capsys, ["train", "--resume", str(run / "last.pt"), "--data", str(other), "--epochs", "2"])
    assert "trained on classes [cat, dog] and this data has [ant, bee]" in resume
    scored = cli_error(capsys, ["eval", "--checkpoint", str(run / "best.pt"), "--data", str(other)])
    assert "[cat, dog]" in scored and "[ant, bee]" in scored
    assert "top-1" not in capsys.readouterr().out


@pytest.mark.slow  # a real process: about 4 s of CPU to import torch
def test_resume_on_data_of_other_classes_is_refused_by_a_real_process(pets):
    run, _, other = pets
    before = (run / "last.pt").read_bytes()
    done = _cnnzoo("train", "--resume", str(run / "last.pt"), "--data", str(other), "--epochs", "2", "--quiet")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "trained on classes [cat, dog] and this data has [ant, bee]" in lines[0]
    assert (run / "last.pt").read_bytes() == before  # nothing trained on, nothing saved


@pytest.mark.slow  # a real process
def test_eval_on_data_of_other_classes_prints_no_score(pets):
    run, data, other = pets
    done = _cnnzoo("eval", "--checkpoint", str(run / "best.pt"), "--data", str(other), "--workers", "0")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and done.stdout == "", (done.stdout, done.stderr)
    assert "[cat, dog]" in lines[0] and "[ant, bee]" in lines[0]
    with pytest.raises(CheckpointError, match=r"\[ant, bee\]"):
        cnnzoo.evaluate_checkpoint(run / "best.pt", data=str(other), workers=0)
    assert cnnzoo.evaluate_checkpoint(run / "best.pt", data=str(data), workers=0)["val_top1"] >= 0  # its own classes


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(classes=7), "'classes' is not a list of class names"),
        (lambda s: s.update(model_name="../../x"), "'model_name' is not a model name"),
        (lambda s: s.update(num_classes=-3), "'num_classes' is not an integer or null"),
    ],
)
def test_predict_refuses_a_crafted_best_pt(capsys, pets, tmp_path, change, message):
    run, data, _ = pets
    state = torch.load(run / "best.pt", weights_only=True)
    change(state)
    torch.save(state, tmp_path / "best.pt")
    image = next((data / "val" / "cat").iterdir())
    line = cli_error(capsys, ["predict", str(image), "--pretrained", str(tmp_path / "best.pt")])
    assert message in line
    with pytest.raises(CheckpointError, match=message.replace("'", ".")):
        cnnzoo.create_model("lenet5", pretrained=tmp_path / "best.pt")


def test_predict_with_arguments_the_checkpoint_was_not_trained_with(capsys, pets, tmp_path):
    run, data, _ = pets
    image = str(next((data / "val" / "dog").iterdir()))
    state = torch.load(run / "best.pt", weights_only=True)
    state["config"]["model_kwargs"] = [1]  # predict builds the model with the run's constructor arguments
    torch.save(state, tmp_path / "best.pt")
    assert "'config' is not a mapping of settings (model_kwargs a mapping)" in cli_error(
        capsys, ["predict", image, "--pretrained", str(tmp_path / "best.pt")]
    )
    line = cli_error(capsys, ["predict", image, "--pretrained", str(run / "best.pt"), "--model-arg", "num_classes=3"])
    assert "has 2 classes and this run 3" in line
    line = cli_error(capsys, ["predict", image, "--pretrained", str(run / "best.pt"), "--model", "alexnet"])
    assert "is of model 'lenet5', not 'alexnet'" in line


def test_a_mid_epoch_checkpoint_of_a_model_with_auxiliary_heads_is_read(pets, tmp_path):
    run, _, _ = pets
    # GoogLeNet's training output: the main logits and two auxiliary heads' (Szegedy et al. 2014, Sec. 5)
    out, target = GoogLeNetOutputs(torch.randn(2, 2), torch.randn(2, 2), torch.randn(2, 2)), torch.tensor([0, 1])
    totals = EpochTotals(torch.device("cpu"))
    totals.add(torch.nn.functional.cross_entropy(out.logits, target), out, target, 1)
    state = {**torch.load(run / "last.pt", weights_only=True), "partial": totals.partial(), "batch_in_epoch": 1}
    torch.save(state, tmp_path / "last.pt")
    assert load_checkpoint(tmp_path / "last.pt")["partial"] == totals.partial()  # four sums, then three heads
    torch.save({**state, "partial": totals.partial()[:3]}, tmp_path / "short.pt")
    with pytest.raises(CheckpointError, match="'partial' is not"):
        load_checkpoint(tmp_path / "short.pt")


def test_weights_and_checkpoints_are_memory_mapped_not_read_whole(pets, tmp_path, monkeypatch):
    run, _, _ = pets
    big = cnnzoo.create_model("lenet5").state_dict()
    big["padding"] = torch.zeros(4 << 20)  # 16 MB that a whole read would copy into memory
    torch.save(big, tmp_path / "big.pth")

    def no_whole_reads(*args, **kwargs):
        raise AssertionError("a weights file was read whole")

    monkeypatch.setattr(cnnzoo.reading, "read_bytes", no_whole_reads)
    monkeypatch.setattr("cnnzoo.weights.files.read_bytes", no_whole_reads)
    loaded = cnnzoo.weights.files.read_weights_file(tmp_path / "big.pth")
    state = load_checkpoint(run / "last.pt")
    if os.path.exists("/proc/self/maps"):  # the tensors are backed by the files, not copies of them
        maps = Path("/proc/self/maps").read_text()
        assert str(tmp_path / "big.pth") in maps and str(run / "last.pt") in maps
    assert torch.equal(loaded["padding"], big["padding"]) and state["model_name"] == "lenet5"
    model = cnnzoo.create_model("lenet5", pretrained=run / "best.pt")  # a run's checkpoint, through the same reader
    saved = load_checkpoint(run / "best.pt")["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    monkeypatch.setenv("CNNZOO_MAX_WEIGHTS_BYTES", "1000")  # the bound holds before a byte is mapped
    with pytest.raises(WeightsError, match="over the limit"):
        cnnzoo.weights.files.read_weights_file(tmp_path / "big.pth")
    with pytest.raises(CheckpointError, match="over the limit"):
        load_checkpoint(run / "last.pt")
