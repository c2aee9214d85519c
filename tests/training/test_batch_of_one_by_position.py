"""A batch of one image that BatchNorm cannot train on is recognised by where torch refused it (its
batch-norm check), not by the words of the error: another ValueError of a forward passes unchanged,
whatever it says."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ConfigError
from cnnzoo.training.guards import batch_of_one


class _SaysTheSame(nn.Module):
    """A layer of the user's that refuses its input with the words torch's BatchNorm uses."""

    def forward(self, x):
        raise ValueError("Expected more than 1 value per channel when training, got input size (1, 3)")


def test_torchs_own_refusal_is_rephrased():
    with pytest.raises(ConfigError, match="batch 7 of epoch 2 holds 1 image, which BatchNorm cannot train on"):
        with batch_of_one(7, 2):
            nn.BatchNorm1d(3).train()(torch.randn(1, 3))


def test_the_same_words_from_elsewhere_are_not_blamed_on_batchnorm():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel") as caught:
        with batch_of_one(1, 1):
            _SaysTheSame()(torch.randn(1, 3))
    assert not isinstance(caught.value, ConfigError)
