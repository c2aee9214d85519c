"""Every number setting of a run is bounded by its interval in the field table, on both sides."""

from __future__ import annotations

import math

import pytest

from cnnzoo.errors import ConfigError
from cnnzoo.limits import LIMITS
from cnnzoo.training.config import TrainConfig, fields

# (key, refused, accepted, words): each edge of each interval the settings had before they became a table
EDGES = [
    ("lr", 0.0, 1e-9, "lr must be > 0, got 0.0"),
    ("momentum", 1.0, 0.0, "momentum must be in [0, 1)"),
    ("weight_decay", -1e-9, 0.0, "weight_decay must be >= 0"),
    ("norm_weight_decay", -0.5, 0.0, "norm_weight_decay must be >= 0"),
    ("layer_decay", 0.0, 1.0, "layer_decay must be in (0, 1]"),
    ("warmup_decay", 0.0, 1.0, "warmup_decay must be in (0, 1]"),
    ("gamma", 1.5, 1.0, "gamma must be in (0, 1]"),
    ("clip_grad", 0.0, 0.5, "clip_grad must be > 0"),
    ("label_smoothing", 1.0, 0.0, "label_smoothing must be in [0, 1)"),
    ("random_erase", 1.01, 1.0, "random_erase must be in [0, 1]"),
    ("ema_decay", 1.0, 0.5, "ema_decay must be in (0, 1)"),
    ("save_every_minutes", 0.0, 0.5, "save_every_minutes must be > 0"),
    ("dist_timeout", 0.0, 1.0, "dist_timeout must be > 0"),
    ("mixup", -1.0, 0.0, "mixup must be >= 0"),
    ("aux_weight", -0.3, 0.0, "aux_weight must be >= 0"),
    ("workers", -1, 0, "workers must be >= 0"),
    ("seed", -1, 0, "seed must be >= 0"),
    ("keep_last", 0, 1, "keep_last must be >= 1"),
    ("save_every", 0, 1, "save_every must be >= 1"),
    ("val_resize", 0, 1, "val_resize must be >= 1"),
    ("threads", LIMITS["threads"] + 1, LIMITS["threads"], f"threads must be at most {LIMITS['threads']:,}"),
    ("seed", 10**400, 2**63 - 1, "seed must be at most"),
]


@pytest.mark.parametrize("key, refused, accepted, words", EDGES)
def test_each_edge_of_each_interval(key, refused, accepted, words):
    with pytest.raises(ConfigError, match=key) as caught:
        TrainConfig(**{key: refused})
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert getattr(TrainConfig(**{key: accepted}), key) == accepted


@pytest.mark.parametrize("key", [f.name for f in fields() if "float" in str(f.type)])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_no_float_setting_takes_nan_or_inf(key, bad):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        TrainConfig(**{key: bad})


@pytest.mark.parametrize("key", [f.name for f in fields() if str(f.type) in ("int", "int | None")])
def test_every_integer_setting_is_bounded_by_the_limits_table(key):
    assert key in LIMITS  # an integer setting without an upper bound could ask for any amount of memory
    with pytest.raises(ConfigError, match=f"{key} must be at most {LIMITS[key]:,}"):
        TrainConfig(**{key: LIMITS[key] + 1})


def test_cross_field_rules_stay():
    with pytest.raises(ConfigError, match=r"warmup_epochs must be <= epochs \(2\)"):
        TrainConfig(epochs=2, warmup_epochs=3.0)
    with pytest.raises(ConfigError, match="milestones must be increasing epochs >= 1"):
        TrainConfig(milestones=[5, 3])


def test_a_wrong_type_names_where_it_came_from(tmp_path):
    from cnnzoo.training.config import load_config, merge_config

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("epochs: 3\nlr: fast\n")
    with pytest.raises(ConfigError, match=rf"^{recipe}: lr must be float, got 'fast' \(str\)$"):
        load_config(recipe)  # refused as it is read, before any merge
    with pytest.raises(ConfigError, match=r"^arguments: epochs must be int, got '3' \(str\)$"):
        merge_config(None, {"epochs": "3"})
