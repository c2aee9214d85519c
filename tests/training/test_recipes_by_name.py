"""The published recipes ship inside the package and are found by name (--config resnet56_cifar10);
configs/ at the top of the repository keeps working."""

import fnmatch
from pathlib import Path

import pytest
import yaml
from helpers import cli_error, run_cli

import cnnzoo
from cnnzoo.errors import ConfigError
from cnnzoo.training.config import RECIPES_DIR, TrainConfig, list_recipes, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_every_recipe_is_found_by_name_and_is_the_configs_file():
    names = list_recipes()
    assert {"resnet56_cifar10", "lenet5_digits", "resnet50_imagenet"} <= set(names)
    assert sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")) == names
    for name in names:
        values = load_config(name)
        assert values == load_config(ROOT / "configs" / f"{name}.yaml") == load_config(f"{name}.yaml")
        TrainConfig.from_dict(values)  # each is a valid recipe


def test_the_recipes_are_package_data():
    # the checkout's recipes are package data, and the cnnzoo being tested (installed or from
    # src/) finds them beside its own code
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["cnnzoo"]
    source = ROOT / "src" / "cnnzoo"
    shipped = sorted(p.name for p in (source / "recipes").glob("*.yaml"))
    assert shipped and all(any(fnmatch.fnmatch(f"recipes/{name}", p) for p in patterns) for name in shipped)
    assert RECIPES_DIR == Path(cnnzoo.__file__).parent / "recipes"
    assert sorted(p.name for p in RECIPES_DIR.glob("*.yaml")) == shipped


def test_a_local_file_of_that_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet56_cifar10.yaml").write_text(yaml.safe_dump({"model": "resnet20", "epochs": 3}))
    assert load_config("resnet56_cifar10.yaml") == {"model": "resnet20", "epochs": 3}
    assert load_config("resnet56_cifar10")["model"] == "resnet56"  # the bare name is the shipped recipe


def test_an_unknown_name_lists_the_recipes(capsys):
    with pytest.raises(ConfigError, match=r"did you mean resnet56_cifar10\?.*lenet5_digits"):
        load_config("resnet56_cifar")
    line = cli_error(capsys, ["train", "--config", "resnet56_cifar"])
    assert "neither a file nor a shipped recipe" in line


def test_train_runs_a_recipe_by_name(capsys, tmp_path):
    code, _, _ = run_cli(
        capsys,
        "train",
        "--config",
        "lenet5_digits",
        "--epochs",
        "1",
        "--limit-batches",
        "1",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--quiet",
        "--output",
        str(tmp_path / "run"),
    )
    assert code == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["model"] == load_config("lenet5_digits")["model"] == "lenet5" and saved["epochs"] == 1
