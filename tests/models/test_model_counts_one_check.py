"""A model's own counts (growth rate, groups, rounding) are refused by the one count check of the
bounds table (``cnnzoo.limits.check_count``), with its words."""

import pytest

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.resnet import Bottleneck, ResNet


@pytest.mark.parametrize(
    ("build", "arg"),
    [
        (lambda: DenseNet(growth_rate=0), "growth_rate"),
        (lambda: cnnzoo.create_model("densenet121", bn_size=2.0), "bn_size"),
        (lambda: cnnzoo.create_model("mobilenet_v2", round_nearest=True), "round_nearest"),
        (lambda: cnnzoo.create_model("resnet18", stem_width=-1), "stem_width"),
        (lambda: ResNet(Bottleneck, (1, 1, 1, 1), groups="32"), "groups"),
    ],
)
def test_a_count_that_is_not_a_positive_integer_is_refused(build, arg):
    with pytest.raises(InvalidArgumentError, match=f"{arg} must be a whole number >= 1, got"):
        build()
