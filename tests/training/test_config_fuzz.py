"""Property-based tests of the config loader: random mappings (known keys with values of any type,
unknown keys) and random YAML text give a config or a one-line ConfigError, never a TypeError or a
traceback from deep inside."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnzoo.errors import ConfigError
from cnnzoo.training.config import TrainConfig, load_config, merge_config

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
config_dicts = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), values, max_size=6)


@FAST
@given(config_dicts)
def test_config_from_any_mapping_is_a_config_or_a_config_error(values):
    try:
        cfg = merge_config(None, values)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(cfg, TrainConfig)
    cfg.validate()  # what came out is a usable config
    assert merge_config(None, cfg.to_dict()) == cfg  # and repeatable through its dict


@FAST
@given(
    st.one_of(
        st.text(max_size=80),
        config_dicts.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
        st.lists(
            st.sampled_from(
                [
                    "epochs: 3",
                    "lr: 0.1",
                    "lr: -1",
                    "epochs: x",
                    "[",
                    "{a: 1",
                    "model: resnet18",
                    "- 1",
                    "batch_size: 1e3",
                    "data: digits",
                    ": :",
                    "\t",
                    "epochs: !!python/object:os.system x",
                ]
            ),
            max_size=4,
        ).map("\n".join),
    )
)
def test_config_from_any_yaml_text_is_a_config_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    path.write_bytes(text.encode("utf-8", errors="replace"))  # hypothesis text may hold lone surrogates
    try:
        cfg = merge_config(None, load_config(path))
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(cfg, TrainConfig)
