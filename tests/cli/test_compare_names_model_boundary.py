"""compare's model names are judged where every model name is: a name that is no string, or empty,
is refused by the models' own name check with the value quoted; a wildcard must match something."""

from __future__ import annotations

import pytest

from cnnzoo.apps.compare import compare
from cnnzoo.errors import InvalidArgumentError


@pytest.mark.parametrize("bad", [5, "", None, b"resnet18", 2.0])
def test_a_name_that_is_no_name(bad):
    with pytest.raises(InvalidArgumentError, match="a model name must be a non-empty string, got") as caught:
        compare(["lenet5", bad])
    assert "\n" not in str(caught.value)


def test_a_wildcard_that_matches_nothing_and_no_names():
    with pytest.raises(InvalidArgumentError, match="no model matches 'nonet\\*'"):
        compare(["nonet*"])
    with pytest.raises(InvalidArgumentError, match="give at least one model"):
        compare([])
