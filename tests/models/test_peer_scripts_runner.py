"""``python -m cnnzoo.ecosystem SCRIPT ARGS...``: timm's and torchvision's unchanged scripts build cnnzoo's models.

The scripts run here are written in this file and do what the peers' training programs do at their
core (timm's ``train.py``: ``timm.create_model`` with its factory arguments, ``create_dataset``,
``create_loader``, ``create_optimizer_v2``, steps, ``CheckpointSaver``; torchvision's reference
``train.py``: ``torchvision.models.get_model(name, weights=..., num_classes=...)`` from its argparse,
steps, ``torch.save`` of its checkpoint dict), each run as its own process through the runner.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import image_folder

import cnnzoo
from cnnzoo import ecosystem

pytest.importorskip("timm")

SRC = Path(cnnzoo.__file__).resolve().parents[1]

TIMM_TRAIN = """
import argparse
from pathlib import Path

import torch
from timm.data import create_dataset, create_loader, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy
from timm.models import create_model
from timm.optim import create_optimizer_v2
from timm.utils import CheckpointSaver

from probe_util import probe  # a sibling module: the script's folder is first on sys.path

parser = argparse.ArgumentParser()
parser.add_argument("--data-dir")
parser.add_argument("--model")
parser.add_argument("--num-classes", type=int)
parser.add_argument("--input-size", nargs=3, type=int)
parser.add_argument("--output")
args = parser.parse_args()

model = create_model(
    args.model, pretrained=False, in_chans=3, num_classes=args.num_classes, drop_rate=0.0, drop_path_rate=None,
    drop_block_rate=None, global_pool=None, bn_momentum=None, bn_eps=None, scriptable=None, checkpoint_path="",
)
data_config = resolve_data_config(vars(args), model=model)
dataset = create_dataset("", root=args.data_dir, split="train", is_training=True, batch_size=4)
loader = create_loader(
    dataset, input_size=data_config["input_size"], batch_size=4, is_training=True, no_aug=True,
    mean=data_config["mean"], std=data_config["std"], num_workers=0, use_prefetcher=False,
)
loss_fn = LabelSmoothingCrossEntropy(smoothing=0.1)
optimizer = create_optimizer_v2(model, opt="sgd", lr=0.01, weight_decay=2e-5, momentum=0.9)
model.train()
for step, (x, y) in zip(range(2), loader):
    out = model(x)
    assert isinstance(out, torch.Tensor), type(out)  # the loop's loss takes a tensor
    loss_fn(out, y).backward()
    optimizer.step()
    optimizer.zero_grad()
saver = CheckpointSaver(model, optimizer, args=args, checkpoint_dir=args.output, recovery_dir=args.output,
                        decreasing=False, max_history=1)
saver.save_checkpoint(0, metric=0.5)
probe(model, data_config["input_size"], Path(args.output) / "probe.pt")
print(type(model).__name__, tuple(out.shape))
"""

TV_TRAIN = """
import argparse
import os

import torch
import torchvision

from probe_util import probe

parser = argparse.ArgumentParser()
parser.add_argument("--data-path")
parser.add_argument("--model")
parser.add_argument("--weights", default=None)
parser.add_argument("--output-dir")
args = parser.parse_args()

dataset = torchvision.datasets.ImageFolder(
    os.path.join(args.data_path, "train"),
    torchvision.transforms.Compose([torchvision.transforms.Resize((32, 32)), torchvision.transforms.ToTensor()]),
)
num_classes = len(dataset.classes)
model = torchvision.models.get_model(args.model, weights=args.weights, num_classes=num_classes)
loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
model.train()
for step, (x, y) in zip(range(2), loader):
    out = model(x)
    criterion(out, y).backward()
    optimizer.step()
    optimizer.zero_grad()
checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 0, "args": args}
torch.save(checkpoint, os.path.join(args.output_dir, "checkpoint.pth"))
probe(model, (3, 32, 32), os.path.join(args.output_dir, "probe.pt"))
print(type(model).__name__, tuple(out.shape))
"""

PROBE_UTIL = """
import torch


def probe(model, input_size, path):
    model.eval()
    x = torch.randn(2, *input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.save({"x": x, "y": model(x)}, path)
"""


def run_runner(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cnnzoo.ecosystem", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(SRC), "CNNZOO_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def scripts(tmp_path) -> Path:
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "timm_train.py").write_text(TIMM_TRAIN)
    (folder / "tv_train.py").write_text(TV_TRAIN)
    (folder / "probe_util.py").write_text(PROBE_UTIL)
    return folder


def trained(script: Path, data_flag: str, out_flag: str, model: str, tmp_path: Path, *args: str) -> tuple[str, Path]:
    """Run a training ``script`` through the runner on a tiny image folder, from a folder that is not the
    script's (its sibling import then needs ``sys.path[0]`` set); returns what it printed last and its output
    folder."""
    data, out, cwd = image_folder(tmp_path / "data"), tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    cwd.mkdir()
    done = run_runner(str(script), data_flag, str(data), "--model", model, out_flag, str(out), *args, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return " ".join(done.stdout.split()[-3:]), out


def max_diff_to_probe(name: str, checkpoint: Path, probe: Path, **kwargs: object) -> float:
    """max |diff| between the script's model (its probe) and cnnzoo's model loaded from the script's checkpoint."""
    saved = torch.load(probe, weights_only=True)
    model = cnnzoo.create_model(name, num_classes=2, pretrained=str(checkpoint), **kwargs).eval()
    with torch.no_grad():
        return (model(saved["x"]) - saved["y"]).abs().max().item()


# the script's process and this one may run different numbers of threads, so sums may round differently
ATOL = 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet20", "googlenet"])
def test_timm_training_script_runs_a_cnnzoo_model(name, scripts, tmp_path):
    args = ("--num-classes", "2", "--input-size", "3", "32", "32")
    printed, out = trained(scripts / "timm_train.py", "--data-dir", "--output", f"cnnzoo_{name}", tmp_path, *args)
    assert printed == f"{type(cnnzoo.create_model(name, num_classes=2)).__name__} (4, 2)"
    # the peers' registries build GoogLeNet without its auxiliary heads, so its checkpoint has none
    built_as = {"aux_logits": False} if name == "googlenet" else {}
    assert max_diff_to_probe(name, out / "model_best.pth.tar", out / "probe.pt", **built_as) < ATOL


@pytest.mark.slow
def test_torchvision_training_script_runs_a_cnnzoo_model(scripts, tmp_path):
    printed, out = trained(scripts / "tv_train.py", "--data-path", "--output-dir", "cnnzoo_resnet20", tmp_path)
    assert printed == "ResNet (4, 2)"
    assert max_diff_to_probe("resnet20", out / "checkpoint.pth", out / "probe.pt") < ATOL


@pytest.mark.slow
def test_a_failing_script_keeps_its_exit_status_and_traceback(tmp_path):
    (tmp_path / "fails.py").write_text("import sys\nprint('ran', sys.argv[1:])\nsys.exit(3)\n")
    done = run_runner(str(tmp_path / "fails.py"), "--x", "1", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (3, "ran ['--x', '1']\n")
    (tmp_path / "no_such_model.py").write_text("import timm\ntimm.create_model('cnnzoo_no_such_net')\n")
    done = run_runner(str(tmp_path / "no_such_model.py"), cwd=tmp_path)
    assert done.returncode == 1 and "Unknown model (cnnzoo_no_such_net)" in done.stderr


@pytest.mark.slow
def test_bad_usage_from_a_real_process(tmp_path):
    for args in ([], [str(tmp_path / "missing.py"), "--model", "cnnzoo_resnet20"]):
        done = run_runner(*args, cwd=tmp_path)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and "python -m cnnzoo.ecosystem SCRIPT.py" in done.stderr


# ------------------------------------------------------------ in this process (the fast tier)
@pytest.fixture
def restored_argv_and_path(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_the_script_runs_as_main_with_its_argv_folder_and_the_models_registered(tmp_path, restored_argv_and_path):
    folder = tmp_path / "peer"
    folder.mkdir()
    (folder / "sibling_of_script.py").write_text("VALUE = 'sibling'\n")
    (folder / "script.py").write_text(
        "import sys, timm, torchvision\n"
        "from sibling_of_script import VALUE\n"
        "assert __name__ == '__main__'\n"
        "seen = {'argv': sys.argv, 'path0': sys.path[0], 'sibling': VALUE,\n"
        "        'timm': timm.is_model('cnnzoo_resnet20'),\n"
        "        'tv': 'cnnzoo_resnet20' in torchvision.models.list_models(include='cnnzoo_*'),\n"
        # as torchvision's references before get_model (0.14) build a model
        "        'tv_attr': torchvision.models.__dict__['cnnzoo_resnet20'](pretrained=False, num_classes=3)\n"
        "                   .fc.out_features}\n"
        "sys.modules['peer_seen'] = type(sys)('peer_seen')\n"
        "sys.modules['peer_seen'].seen = seen\n"
    )
    try:
        assert ecosystem.main([str(folder / "script.py"), "--model", "cnnzoo_resnet20", "-b", "4"]) == 0
        seen = sys.modules["peer_seen"].seen
    finally:
        sys.modules.pop("peer_seen", None)
        sys.modules.pop("sibling_of_script", None)
    assert seen == {
        "argv": [str(folder / "script.py"), "--model", "cnnzoo_resnet20", "-b", "4"],
        "path0": str(folder),
        "sibling": "sibling",
        "timm": True,
        "tv": True,
        "tv_attr": 3,
    }


@pytest.mark.parametrize("argv", [[], ["--model", "cnnzoo_resnet20"], ["no/such/train.py", "--epochs", "1"]])
def test_bad_usage_is_one_line_and_status_2(argv, tmp_path, capsys, restored_argv_and_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ecosystem.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert "usage: python -m cnnzoo.ecosystem SCRIPT.py" in err
    assert ("no script 'no/such/train.py'" in err) == (argv[:1] == ["no/such/train.py"])


def test_a_folder_is_not_a_script(tmp_path, capsys, restored_argv_and_path):
    assert ecosystem.main([str(tmp_path)]) == 2
    assert f"no script {str(tmp_path)!r}" in capsys.readouterr().err


def test_help(capsys, restored_argv_and_path):
    assert ecosystem.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m cnnzoo.ecosystem SCRIPT.py [ARGS...]")


@pytest.mark.parametrize("name", ["resnet20", "lenet5", "googlenet"])
def test_timm_scripts_resolve_the_models_own_config(name):
    # validate.py builds through resolve_model_input_args, which reads timm's registry for the pretrained_cfg
    from timm.data import resolve_input_data_config
    from timm.models import create_model, resolve_model_input_args

    ecosystem.timm_register()
    via_script = create_model(**resolve_model_input_args(f"cnnzoo_{name}", {}, pretrained=False, num_classes=3))
    direct = cnnzoo.create_model(name, num_classes=3, **ecosystem._LOOP_DEFAULTS.get(name, {}))
    assert via_script.pretrained_cfg == direct.pretrained_cfg, "the model's own record, not timm's generic one"
    assert resolve_input_data_config(via_script, {}) == resolve_input_data_config(direct, {})


def test_timm_scripts_load_a_tag_only_when_asked():
    from timm.models import create_model, resolve_model_input_args

    ecosystem.timm_register()
    fresh = create_model(**resolve_model_input_args("cnnzoo_lenet5.digits", {}, pretrained=False))
    loaded = create_model(**resolve_model_input_args("cnnzoo_lenet5.digits", {}, pretrained=True))
    published = cnnzoo.create_model("lenet5.digits", pretrained=True)
    assert loaded.pretrained_cfg["tag"] == "lenet5.digits" and fresh.pretrained_cfg["tag"] is None
    assert torch.equal(loaded.output.weight, published.output.weight)
    assert not torch.equal(fresh.output.weight, published.output.weight)
