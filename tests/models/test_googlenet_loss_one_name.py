"""GoogLeNet's loss has one implementation and one public name, ``cnnzoo.googlenet_loss``."""

import pytest
import torch
import torch.nn.functional as F

import cnnzoo
import cnnzoo.models.base
import cnnzoo.models.googlenet
import cnnzoo.training
import cnnzoo.training.parts
from cnnzoo.errors import InvalidArgumentError


def test_every_import_path_gives_the_one_function():
    one = cnnzoo.googlenet_loss
    assert cnnzoo.models.googlenet_loss is one
    assert cnnzoo.models.googlenet.googlenet_loss is one
    assert cnnzoo.models.base.googlenet_loss is one
    assert not hasattr(cnnzoo.models.base, "output_loss")  # the internal second name is gone


def test_it_is_the_plain_loss_for_a_tensor_and_the_weighted_sum_with_auxiliary_logits():
    g = torch.Generator().manual_seed(0)
    logits, aux1, aux2 = (torch.randn(4, 5, generator=g) for _ in range(3))
    target = torch.tensor([0, 1, 2, 3])
    assert torch.equal(cnnzoo.googlenet_loss(logits, target), F.cross_entropy(logits, target))
    out = cnnzoo.GoogLeNetOutputs(logits, aux1, aux2)
    expected = F.cross_entropy(logits, target) + 0.3 * (F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target))
    torch.testing.assert_close(cnnzoo.googlenet_loss(out, target), expected)
    # an auxiliary head the model was built without (aux_logits=False keeps None in its place)
    torch.testing.assert_close(
        cnnzoo.googlenet_loss(cnnzoo.GoogLeNetOutputs(logits, None, None), target), F.cross_entropy(logits, target)
    )
    with pytest.raises(InvalidArgumentError, match="Tensor or have .logits"):
        cnnzoo.googlenet_loss([logits], target)


def test_compute_loss_stays_one_release_as_a_deprecated_alias():
    g = torch.Generator().manual_seed(1)
    out = cnnzoo.GoogLeNetOutputs(*(torch.randn(3, 4, generator=g) for _ in range(3)))
    target = torch.tensor([1, 0, 3])
    assert cnnzoo.compute_loss is cnnzoo.training.compute_loss is cnnzoo.training.parts.compute_loss
    assert "Deprecated" in cnnzoo.compute_loss.__doc__ and "googlenet_loss" in cnnzoo.compute_loss.__doc__
    with pytest.warns(DeprecationWarning, match="use cnnzoo.googlenet_loss"):
        old = cnnzoo.compute_loss(out, target, None, 0.5)
    assert torch.equal(old, cnnzoo.googlenet_loss(out, target, aux_weight=0.5))
