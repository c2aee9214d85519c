"""Stage indices (forward_intermediates' ``indices``, create_model's ``out_indices``) meet one check of
their type and one of the stages they choose; a count far beyond the stages is refused at once."""

import pytest

from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.backbone import feature_take_indices


@pytest.mark.parametrize("indices", [0, -1, 6, 10**18, -(10**18), [5], [-6], [1, 1], [0, -5], []])
def test_indices_that_choose_no_stages_of_five_are_refused(indices):
    with pytest.raises(InvalidArgumentError, match=r"must choose different stages of this network's 5: .* 0\.\.4"):
        feature_take_indices(5, indices)


def test_indices_in_range_are_taken():
    assert feature_take_indices(5, 5) == ([0, 1, 2, 3, 4], 4)
    assert feature_take_indices(5, range(-2, 0)) == ([3, 4], 4)
    assert feature_take_indices(5, (0, -1)) == ([0, 4], 4)
