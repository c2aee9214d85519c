"""A user's registered constructor may take some of ``**kwargs`` itself (timm's pattern): create_model
passes them on instead of refusing them by the network class's parameters, as it does for cnnzoo's own."""

from __future__ import annotations

import pytest
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.registry import _REGISTRY


class _Net(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 3, width: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(in_chans * width, num_classes)


def test_a_user_constructor_consuming_its_own_keyword_is_taken() -> None:
    @cnnzoo.register_model
    def _zoo_test_own_kwargs(pretrained: bool = False, **kwargs):  # noqa: ANN202
        scale = kwargs.pop("scale", 1)  # used here, never passed on to the network
        return _Net(width=4 * scale, **kwargs)

    try:
        model = cnnzoo.create_model("_zoo_test_own_kwargs", num_classes=5, scale=2)
        assert model.fc.in_features == 3 * 8 and model.fc.out_features == 5
    finally:
        _REGISTRY.pop("_zoo_test_own_kwargs", None)


def test_cnnzoo_constructors_still_refuse_a_misspelt_argument_before_building() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown argument.*stem_typ"):
        cnnzoo.create_model("resnet18", stem_typ="deep")
