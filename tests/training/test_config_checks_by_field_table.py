"""Each setting of a run is checked once, with its type, by its field's entries (choices, within,
admits): a recipe's bad value is refused where its key is read, naming the file; a config changed
after it was made is checked again by validate()."""

from __future__ import annotations

import pytest

from cnnzoo.errors import ConfigError
from cnnzoo.training.config import TrainConfig, load_config, merge_config


@pytest.mark.parametrize(
    "line, words",
    [
        ('freeze: ""', "freeze must be backbone, features, a layer name or a number of stages"),
        ('model: ""', "model must be a registered model's name"),
        ("device: gpu", "device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        ("milestones: [30, 10]", "milestones must be increasing epochs >= 1"),
        ("milestones: [0, 10]", "milestones must be increasing epochs >= 1"),
        ("optimizer: adam", "optimizer must be one of sgd, adamw, got 'adam'"),
        ("model_kwargs: {in_chans: 4}", "model_kwargs must be constructor arguments the run does not set itself"),
        ("momentum: 1.0", r"momentum must be in \[0, 1\)"),
    ],
)
def test_a_recipes_bad_value_names_the_file(tmp_path, line, words):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(line + "\n")
    with pytest.raises(ConfigError, match=f"^{recipe}: {words}"):
        load_config(recipe)


def test_arguments_are_checked_the_same_way():
    with pytest.raises(ConfigError, match="^arguments: schedule must be one of cosine, step, constant, got 'linear'"):
        merge_config(None, {"schedule": "linear"})
    assert merge_config(None, {"milestones": (10, 20), "freeze": "layer3"}).milestones == [10, 20]


def test_validate_checks_a_config_changed_after_it_was_made():
    cfg = TrainConfig()
    cfg.validate()
    cfg.lr = -1.0
    with pytest.raises(ConfigError, match="lr must be > 0, got -1.0"):
        cfg.validate()
    cfg.lr, cfg.device = 0.1, "tpu"
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
        cfg.validate()
