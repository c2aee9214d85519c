"""Issue 7: property-based tests -- whatever the input, a config/model or a clear cnnzoo error.

The config loader gets random mappings (known keys with values of any type, unknown
keys) and random YAML text; the model constructors get random ``num_classes``,
``in_chans``, drop rates and unknown keyword arguments, built on the meta device so no
memory is spent. Anything other than a result or a :class:`~cnnzoo.errors.CnnzooError`
(a TypeError, a ZeroDivisionError, a torch error from deep inside) fails the test.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnzoo
from cnnzoo.errors import CnnzooError, ConfigError, InvalidArgumentError
from cnnzoo.training.config import TrainConfig, load_config, merge_config

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=6)
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
@given(st.one_of(st.text(max_size=80),
                 config_dicts.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                 st.lists(st.sampled_from(["epochs: 3", "lr: 0.1", "lr: -1", "epochs: x", "[", "{a: 1",
                                           "model: resnet18", "- 1", "batch_size: 1e3", "data: digits",
                                           ": :", "\t", "epochs: !!python/object:os.system x"]),
                          max_size=4).map("\n".join)))
def test_config_from_any_yaml_text_is_a_config_or_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    path.write_bytes(text.encode("utf-8", errors="replace"))  # hypothesis text may hold lone surrogates
    try:
        cfg = merge_config(None, load_config(path))
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(cfg, TrainConfig)


SMALL_MODELS = ["lenet5", "alexnet", "resnet18", "densenet121", "mobilenet_v2", "vgg11", "googlenet"]
ints = st.one_of(st.integers(-3, 5000), st.sampled_from([0, 1, 2, 3, 1000]), st.floats(-2, 2), st.text(max_size=3),
                 st.none(), st.booleans())
rates = st.one_of(st.floats(-1, 2), st.just(float("nan")), st.integers(-1, 2), st.text(max_size=3), st.none())


@FAST
@given(name=st.sampled_from(SMALL_MODELS), num_classes=ints, in_chans=ints,
       extra=st.dictionaries(st.sampled_from(["drop_rate", "drop_path_rate", "dropout", "width_mult", "aux_logits",
                                              "bogus", "zero_init_residual"]), rates, max_size=2))
def test_constructors_give_a_model_or_a_clear_error(name, num_classes, in_chans, extra):
    try:
        with torch.device("meta"):
            model = cnnzoo.create_model(name, num_classes=num_classes, in_chans=in_chans, **extra)
    except CnnzooError as e:
        assert str(e) and "\n" not in str(e)
        if "bogus" in extra:
            assert "bogus" in str(e) or isinstance(e, InvalidArgumentError)
        return
    assert "bogus" not in extra  # an unknown keyword argument is always an error
    # None means the model's default (create_model's documented behaviour); otherwise the value is kept
    if num_classes is not None:
        assert model.num_classes == num_classes
        assert isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 0
    if in_chans is not None:
        assert model.in_chans == in_chans
        assert isinstance(in_chans, int) and not isinstance(in_chans, bool) and in_chans >= 1


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_unknown_keyword_is_refused_by_name(name):
    with pytest.raises(InvalidArgumentError, match="colour"):
        cnnzoo.create_model(name, colour="red")
