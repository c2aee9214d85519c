"""A name handed to the peers' registries (timm's, torchvision's) is looked up in cnnzoo's registry,
which refuses one it does not hold with the closest names, before anything is registered."""

import pytest

from cnnzoo import ecosystem
from cnnzoo.errors import UnknownModelError


@pytest.mark.parametrize("name", ["resnt18", "", "../resnet18"])
def test_an_unknown_name_is_refused_by_the_registry(name):
    with pytest.raises(UnknownModelError, match="unknown model") as caught:
        ecosystem.entrypoint(name)
    if name == "resnt18":
        assert "resnet18" in caught.value.suggestions


def test_a_known_name_gives_the_peers_builder():
    build = ecosystem.entrypoint("lenet5")
    assert build.__name__ == "cnnzoo_lenet5" and build.cnnzoo_model == "lenet5"
    assert build(pretrained=False, num_classes=3).num_classes == 3
