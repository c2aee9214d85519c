import os
from pathlib import Path

import pytest
import torch
from helpers import Evil, image_folder
from PIL import Image

import cnnzoo

# Tests are CPU-only and must not touch the network or the user's cache.
os.environ.setdefault("CNNZOO_OFFLINE", "1")

# pytest-xdist runs one worker per core: each takes one intra-op thread, so that the
# workers do not oversubscribe the cores (a test that wants more sets it)
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path_factory.mktemp("cnnzoo_home")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Files users mistake for weights or outputs: text, a truncated file, a pickle that would run
    code, another architecture's weights, a folder, a plain file; and lenet5's weights, an image."""
    d = tmp_path_factory.mktemp("bad")
    f: dict[str, Path] = {}
    f["text"] = d / "notes.pt"
    f["text"].write_text("these are my notes, not weights\n")
    good = d / "lenet5.pth"
    torch.save(cnnzoo.create_model("lenet5").state_dict(), good)
    f["lenet5"] = good
    f["truncated"] = d / "truncated.pth"
    f["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    f["evil"] = d / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "x": Evil()}, f["evil"])
    f["resnet18"] = d / "resnet18.pth"
    torch.save(cnnzoo.create_model("resnet18", num_classes=10).state_dict(), f["resnet18"])
    f["dir"] = d / "adir.pth"
    f["dir"].mkdir()
    f["afile"] = d / "afile"
    f["afile"].write_text("x")
    f["image"] = d / "digit.png"
    Image.new("L", (16, 16), 128).save(f["image"])
    return f


@pytest.fixture
def corrupt_folder(tmp_path) -> Path:
    """An image folder with a garbage JPEG in train/ and a truncated one in val/."""
    root = image_folder(tmp_path / "imgs", n=8)
    (root / "train" / "cat" / "0.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")  # garbage
    good = (root / "val" / "dog" / "1.jpg").read_bytes()
    (root / "val" / "dog" / "0.jpg").write_bytes(good[: len(good) // 3])  # truncated
    return root


def pytest_collection_modifyitems(config, items):
    # `cuda` tests run the real thing on a GPU; without one they are skipped, saying why (the
    # CUDA branches themselves are also reached on the CPU, with torch.cuda monkeypatched)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
