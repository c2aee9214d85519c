"""A family's feature_info is checked once, with the rest of what its constructor must set: each stage's
width and a reduction that never decreases along the network (ZooModel's check when it is built)."""

import pytest
from torch import nn

from cnnzoo.errors import ModelContractError
from cnnzoo.models.backbone import FeatureInfo
from cnnzoo.models.base import ZooModel


class _Declared(ZooModel):
    """Two stages of the trunk, declared with the widths and reductions given."""

    def __init__(self, *, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0, stages: tuple = ()) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
        self.stem = nn.Conv2d(in_chans, 4, 3, stride=2, padding=1)
        self.stage1 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.set_feature_info([dict(stage, module=m) for stage, m in zip(stages, ("stem", "stage1"))])
        self.num_features, self.min_input_size = 8, (in_chans, 1, 1)
        self.fc = self.new_classifier("fc", 8)


def test_declared_stages_build_and_feature_info_reads_them():
    model = _Declared(stages=(dict(num_chs=4, reduction=2), dict(num_chs=8, reduction=4)))
    info = FeatureInfo(model.feature_info, (0, 1))
    assert info.channels() == [4, 8] and info.reduction() == [2, 4] and info.module_name() == ["stem", "stage1"]


@pytest.mark.parametrize(
    "stages",
    [
        (dict(num_chs=4, reduction=4), dict(num_chs=8, reduction=2)),  # the stride shrinks
        (dict(num_chs=0, reduction=2), dict(num_chs=8, reduction=4)),  # a stage of no channels
        (dict(num_chs=4, reduction=2), dict(num_chs=8.0, reduction=4)),  # a width that is no count
        (dict(num_chs=4, reduction=0), dict(num_chs=8, reduction=4)),  # a stride below the input's
        (dict(num_chs=4), dict(num_chs=8, reduction=4)),  # no reduction
    ],
)
def test_stage_widths_and_reductions_are_checked_when_built(stages):
    with pytest.raises(ModelContractError, match=r"feature_info .*num_chs > 0 and a reduction that never decreases"):
        _Declared(stages=stages)


def test_a_stage_without_its_module_is_refused():
    class _NoModule(_Declared):
        def set_feature_info(self, info):  # the declaration loses its module names
            super().set_feature_info([{k: v for k, v in f.items() if k != "module"} for f in info])

    with pytest.raises(ModelContractError, match="must be layers of its trunk"):
        _NoModule(stages=(dict(num_chs=4, reduction=2), dict(num_chs=8, reduction=4)))
