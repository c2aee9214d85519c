"""A family's ``global_pools`` are pooling types the head can build (timm's): one it cannot is refused
when the family is defined, not silently built as no pooling when a user asks for it."""

import pytest
import torch
from torch import nn

from cnnzoo.errors import InvalidArgumentError, ModelContractError
from cnnzoo.models.base import ZooModel
from cnnzoo.models.layers import GLOBAL_POOLS, make_global_pool


def test_a_family_with_an_unknown_pooling_type_is_refused_when_defined():
    with pytest.raises(ModelContractError, match=r"global_pools \['median'\]"):

        class _Median(ZooModel):
            global_pools = ("avg", "median")


@pytest.mark.parametrize("pool", GLOBAL_POOLS)
def test_every_pooling_type_builds_its_module(pool):
    x = torch.arange(8.0).reshape(1, 2, 2, 2)
    out = make_global_pool(pool)(x)
    assert out.shape == ((1, 2, 2, 2) if pool == "" else (1, 4 if pool == "catavgmax" else 2, 1, 1))
    if pool == "avg":
        assert isinstance(make_global_pool(pool), nn.AdaptiveAvgPool2d) and out.flatten().tolist() == [1.5, 5.5]


def test_an_unknown_pooling_type_is_refused_by_the_network():
    import cnnzoo

    model = cnnzoo.create_model("lenet5")
    with pytest.raises(InvalidArgumentError, match="takes global_pool '' or 'avg'.*got 'median'"):
        model.set_global_pool("median")
    with pytest.raises(InvalidArgumentError, match="global_pool"):
        model.reset_classifier(3, global_pool="median")
