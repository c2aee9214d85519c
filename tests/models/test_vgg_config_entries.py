"""A VGG configuration (a column of Table 1 as data) is checked entry by entry by its annotation when the
network is built: widths, (width, odd kernel), 'M' and 'LRN', nothing else."""

import pytest
import torch

from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.vgg import VGG


@pytest.mark.parametrize("entry", [None, "X", 0, 2.5, True, (32, 2), (32, 0), [32, 3, 1], (32.0, 3), ("M", 3)])
def test_an_entry_that_is_no_layer_is_refused(entry):
    with torch.device("meta"), pytest.raises(InvalidArgumentError, match=r"config\[1\]: a VGG configuration holds"):
        VGG((8, entry, "M"), num_classes=3)


def test_a_configuration_that_is_no_sequence_is_refused():
    with pytest.raises(InvalidArgumentError, match="VGG: config must be a sequence"):
        VGG("ABC")


def test_widths_kernels_pools_and_lrn_build():
    model = VGG((8, [16, 1], "LRN", "M", (16, 5), "M"), num_classes=3).eval()
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.padding[0]) for c in convs] == [(8, 3, 1), (16, 1, 0), (16, 5, 2)]
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
