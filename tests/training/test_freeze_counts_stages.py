"""freeze=features and freeze=N count the stages of a network's feature_info: a count beyond them, or a
network without any (a notebook's own module), is refused with the stages there are and what to do."""

from __future__ import annotations

import pytest
from helpers import meta_model
from torch import nn

from cnnzoo.errors import InvalidArgumentError
from cnnzoo.training.parts import freeze_layers


class _NoStages(nn.Module):
    """A classifier with parameters but no feature_info."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2, 2)

    def get_classifier(self) -> nn.Module:
        return self.fc


@pytest.mark.parametrize("what", ["features", "0", "1"])
def test_a_network_without_stages_is_told_to_freeze_a_layer_by_name(what):
    with pytest.raises(InvalidArgumentError, match=rf"freeze='{what}' counts .* _NoStages has 0 stages .*by name"):
        freeze_layers(_NoStages(), what)
    net = _NoStages()
    assert freeze_layers(net, "conv") == [net.conv]  # by name it works


def test_a_count_beyond_the_stages_lists_them():
    with pytest.raises(InvalidArgumentError, match=r"has 5 stages \(.*layer4\): train the last 0 to 5"):
        freeze_layers(meta_model("resnet18"), "6")
    assert freeze_layers(meta_model("resnet18"), "5") == []  # every stage trained: nothing frozen
