"""Property-based tests of the model constructors: random ``num_classes``, ``in_chans``, drop rates
and unknown keyword arguments, built on the meta device so no memory is spent, give a model or a
one-line cnnzoo error (never a TypeError or a torch error from deep inside)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnzoo
from cnnzoo.errors import CnnzooError, InvalidArgumentError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SMALL_MODELS = ["lenet5", "alexnet", "resnet18", "densenet121", "mobilenet_v2", "vgg11", "googlenet"]
ints = st.one_of(
    st.integers(-3, 5000),
    st.sampled_from([0, 1, 2, 3, 1000]),
    st.floats(-2, 2),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
rates = st.one_of(st.floats(-1, 2), st.just(float("nan")), st.integers(-1, 2), st.text(max_size=3), st.none())


@FAST
@given(
    name=st.sampled_from(SMALL_MODELS),
    num_classes=ints,
    in_chans=ints,
    extra=st.dictionaries(
        st.sampled_from(
            ["drop_rate", "drop_path_rate", "dropout", "width_mult", "aux_logits", "bogus", "zero_init_residual"]
        ),
        rates,
        max_size=2,
    ),
)
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
