"""The two markers that replaced the families' and functions' own checks: ``within`` (a finite number in
an interval, each end open or closed, said in one wording) and ``NonEmpty`` (a sequence of its type with
at least one item, whose items keep their own bounds). Each refusal names the argument and the interval
or the type; each edge value on the right side of a bound is accepted."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated

import pytest

import cnnzoo
from cnnzoo.apps.predict import predict
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.arguments import Count, NonEmpty, checked, describe, fits, within
from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.lenet import PartiallyConnectedConv2d


@pytest.mark.parametrize(
    ("check", "good", "bad", "words"),
    [
        (within(0.0, 1.0, high_open=True), [0, 0.5, 0.999], [1.0, -0.01], "in [0, 1)"),
        (within(0.0, 1.0, low_open=True), [1, 1e-9], [0, 1.5], "in (0, 1]"),
        (within(0.0, 8.0, low_open=True), [8, 0.25], [0.0, 8.01], "in (0, 8]"),
        (within(0.0), [0, 1e300], [-1e-12], ">= 0"),
        (within(0.0, low_open=True), [1e-300], [0.0], "> 0"),
    ],
)
def test_within_admits_its_interval_and_says_it(check, good, bad, words):
    for value in good:
        check("x", value)
    for value in [*bad, math.nan, math.inf, True, "0.5", None]:
        with pytest.raises(InvalidArgumentError, match="^" + re.escape(f"x must be a number {words}, got ")):
            check("x", value)


def test_non_empty_is_a_sequence_of_its_type_with_an_item_whose_items_keep_their_bounds():
    hint = Annotated[Sequence[Count], NonEmpty]
    assert fits([3], hint) and fits((1, 2), hint)
    assert not fits([], hint) and not fits("ab", hint) and not fits(5, hint)
    assert describe(hint) == "a non-empty sequence of integers"

    @checked
    def stages(depths: Annotated[Sequence[Count], NonEmpty]) -> int:
        return len(depths)

    assert stages([2, 2]) == 2
    with pytest.raises(
        InvalidArgumentError, match=r"^stages: depths must be a non-empty sequence of integers, got \[\]"
    ):
        stages([])
    for bad, shown in (([2, 0], "0"), ([2, "2"], "'2'")):  # an item's own check says what it must be
        with pytest.raises(InvalidArgumentError, match=rf"^depths\[1\] must be a whole number >= 1, got {shown}"):
            stages(bad)


def test_the_families_and_functions_that_use_them():
    with pytest.raises(InvalidArgumentError, match=r"compression must be a number in \(0, 1\], got 0"):
        DenseNet(compression=0)
    assert DenseNet(compression=1, block_config=(1,)).block_config == (1,)
    with pytest.raises(InvalidArgumentError, match=r"block_config must be a non-empty sequence of integers, got \[\]"):
        DenseNet(block_config=[])
    model = cnnzoo.create_model("lenet5")
    with pytest.raises(InvalidArgumentError, match=r"predict: images must be a non-empty sequence of strings or os"):
        predict(model, [])


def test_a_connection_table_needs_an_input_for_every_output_map():
    """LeNet-5's C3 table (LeCun et al. 1998, Table I): an output map that reads no input map is refused,
    and so is a negative map index; the paper's kind of table builds."""
    words = r"PartiallyConnectedConv2d: table must be a non-empty sequence of non-empty sequences of integers"
    for table in ([], [[0, 1], []]):
        with pytest.raises(InvalidArgumentError, match=words):
            PartiallyConnectedConv2d(table, 5)
    with pytest.raises(InvalidArgumentError, match=r"table\[0\]\[1\] must be a whole number >= 0, got -1"):
        PartiallyConnectedConv2d([[0, -1]], 5)
    assert PartiallyConnectedConv2d([[0, 1], [1, 2]], 5).out_channels == 2
