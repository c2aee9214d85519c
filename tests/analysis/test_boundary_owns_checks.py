"""Arguments that a deeper boundary checks are refused there, with the same error type, when they
come through the functions in front of it (nothing re-checks them on the way)."""

import pytest

from cnnzoo.errors import InvalidArgumentError


@pytest.mark.parametrize("depth", [0, -1, True, 2.0, "3", 65])
def test_layer_chart_refuses_a_bad_depth_through_summary(tmp_path, depth):
    pytest.importorskip("matplotlib")
    from cnnzoo.apps.chart import layer_chart

    with pytest.raises(InvalidArgumentError, match="depth"):
        layer_chart("lenet5", tmp_path / "c.png", depth=depth)
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("model", [5, None, b"lenet5", ""])
def test_what_is_neither_a_model_nor_a_name_is_refused_by_the_registry(model):
    from cnnzoo.analysis.summary import summary

    with pytest.raises(InvalidArgumentError, match="a model name must be a non-empty string"):
        summary(model)
