"""TrainConfig, YAML recipes and how the command line merges onto them."""

from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.errors import ConfigError
from cnnzoo.training.config import TrainConfig, load_config, merge_config
from cnnzoo.training.outputs import load_checkpoint

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_the_required_recipes_exist():
    names = {p.stem for p in CONFIGS}
    assert {
        "lenet5_digits",
        "resnet18_cifar10",
        "resnet50_imagenet",
        "googlenet_imagenet",
        "mobilenet_v2_imagenet",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_file_is_valid(path):
    header = "".join(line for line in path.read_text().splitlines(True) if line.startswith("#"))
    assert "Source" in header, "each recipe names its source in its leading comment"
    cfg = TrainConfig.from_dict(load_config(path), source=str(path))
    assert cfg.model in cnnzoo.list_models()


def test_lenet5_recipe_is_the_default_run():
    recipe = TrainConfig.from_dict(load_config(Path(__file__).parents[2] / "configs" / "lenet5_digits.yaml"))
    assert recipe == TrainConfig(model="lenet5")


def test_resnet50_recipe_matches_torchvision():
    cfg = TrainConfig.from_dict(load_config(Path(__file__).parents[2] / "configs" / "resnet50_imagenet.yaml"))
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.weight_decay, cfg.label_smoothing) == (0.5, 128, 600, 2e-5, 0.1)
    assert (cfg.mixup, cfg.cutmix, cfg.auto_augment, cfg.random_erase) == (0.2, 1.0, "ta_wide", 0.1)
    assert (cfg.input_size, cfg.val_resize, cfg.val_input_size, cfg.warmup_epochs) == (176, 232, 224, 5.0)


def test_unknown_key_names_it_and_suggests(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: lenet5\nbatch_sise: 32\n")
    with pytest.raises(ConfigError, match="unknown config key 'batch_sise'; did you mean batch_size"):
        load_config(p)
    with pytest.raises(ConfigError, match="did you mean epochs"):
        TrainConfig.from_dict({"epoch": 3})


def test_wrong_types_and_values(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("epochs: ten\n")
    with pytest.raises(ConfigError, match="epochs must be int"):
        load_config(p)
    with pytest.raises(ConfigError, match="lr must be float"):
        TrainConfig(lr="0.1")
    with pytest.raises(ConfigError, match="ema must be bool"):
        TrainConfig(ema=1)
    for key, value in (
        ("epochs", 0),
        ("epochs", -2),
        ("batch_size", 0),
        ("lr", 0.0),
        ("lr", -1.0),
        ("label_smoothing", 1.0),
        ("momentum", 1.5),
    ):
        with pytest.raises(ConfigError, match=key):
            TrainConfig(**{key: value})
    with pytest.raises(ConfigError, match="optimizer must be one of sgd, adamw"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig(device="gpu")
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)  # an int is a float


def test_yaml_syntax_error_gives_the_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: lenet5\nepochs: 3\nlr: [0.1\nbatch_size: 4\n")
    with pytest.raises(ConfigError, match=r"line \d+.*YAML syntax error"):
        load_config(p)
    q = tmp_path / "list.yaml"
    q.write_text("- model\n- lenet5\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(q)


def test_command_line_errors_are_one_line_and_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("modle: lenet5\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert main(["train", "--epochs", "0", "--output", str(tmp_path / "o")]) == 2
    assert main(["train", "--model", "lenet55"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "did you mean model" in err[0] and "epochs must be >= 1" in err[1]
    assert "unknown model 'lenet55'" in err[2]


def test_merge_order_and_a_repeatable_config(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model: lenet5\nepochs: 5\nlr: 0.02\nbatch_size: 32\nlimit_batches: 2\nseed: 7\n")
    merged = merge_config(merge_config(None, load_config(recipe)), {"epochs": 1})
    assert (merged.epochs, merged.lr, merged.batch_size, merged.model) == (1, 0.02, 32, "lenet5")
    # the command line wins over the file; the run directory gets the merged config ...
    assert (
        main(
            [
                "train",
                "--config",
                str(recipe),
                "--epochs",
                "1",
                "--output",
                str(tmp_path / "a"),
                "--quiet",
                "--deterministic",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    written = load_config(tmp_path / "a" / "config.yaml")
    assert (written["epochs"], written["lr"], written["seed"], written["deterministic"]) == (1, 0.02, 7, True)
    assert written["threads"] == 1
    # ... and repeating it gives the same run
    assert (
        main(["train", "--config", str(tmp_path / "a" / "config.yaml"), "--output", str(tmp_path / "b"), "--quiet"])
        == 0
    )
    a, b = (load_checkpoint(tmp_path / d / "last.pt")["model"] for d in "ab")
    assert all((a[k] == b[k]).all() for k in a)


def test_model_arguments_from_the_command_line(tmp_path):
    assert (
        main(
            [
                "train",
                "--model",
                "lenet5",
                "--model-arg",
                "variant=paper",
                "--epochs",
                "1",
                "--limit-batches",
                "2",
                "--output",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["config"]["model_kwargs"] == {"variant": "paper"}
    assert sum(v.numel() for k, v in ckpt["model"].items() if "running" not in k) > 60_000  # the paper's net
