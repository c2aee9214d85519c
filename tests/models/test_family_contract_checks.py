"""The family contract checks itself: a ZooModel subclass that lacks what every network must provide
fails when it is defined (its methods and constructor) or when it is built (what its constructor sets)."""

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelContractError
from cnnzoo.models.base import ZooModel, class_contract_problems
from cnnzoo.models.layers import stack_feature_info


def _all_subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_all_subclasses(sub))]


def _zoo_classes() -> list[type]:
    return [c for c in _all_subclasses(ZooModel) if c.__module__.startswith("cnnzoo.")]


def test_every_zoo_family_meets_the_contract():
    classes = _zoo_classes()
    # every family file defines its network class: the walk found them all
    assert {c.__name__ for c in classes} >= {
        "LeNet5",
        "ClassicConvNet",
        "AlexNet",
        "ZFNet",
        "VGG",
        "GoogLeNet",
        "ResNet",
        "DenseNet",
        "MobileNetV1",
        "MobileNetV2",
    }
    for cls in classes:
        assert class_contract_problems(cls) == [], cls


class _Tiny(ZooModel):
    """A valid minimal family: one conv stage and a linear classifier."""

    def __init__(self, *, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
        self.features = nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1))
        self.set_feature_info(stack_feature_info(self.features, [4]))
        self.num_features, self.min_input_size = 4, (in_chans, 1, 1)
        self.fc = self.new_classifier("fc", 4)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return x if pre_logits else self.fc(x)


def test_a_valid_family_defines_builds_and_runs():
    model = _Tiny().eval()
    assert model(torch.randn(2, 1, 5, 5)).shape == (2, 3)


class _DefaultHead(ZooModel):
    """A family with nothing between pooling and classifier: ZooModel's forward_head serves it."""

    def __init__(self, *, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0, head: str = "fc") -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
        self.features = nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1))
        self.set_feature_info(stack_feature_info(self.features, [4]))
        self.num_features, self.min_input_size = 4, (in_chans, 1, 1)
        setattr(self, head, self.new_classifier(head, 4))


@pytest.mark.parametrize("head", ["fc", "classifier"])
def test_a_family_without_forward_head_gets_the_default_head(head):
    model = _DefaultHead(head=head, drop_rate=0.5).eval()
    x = torch.randn(2, 1, 5, 5)
    feats = model.forward_features(x)
    pooled = feats.mean((2, 3))
    torch.testing.assert_close(model.forward_head(feats, pre_logits=True), pooled)
    torch.testing.assert_close(model(x), getattr(model, head)(pooled))
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))
    model.train()
    dropped = model.forward_head(torch.ones(64, 4, 2, 2), pre_logits=True)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # the head dropout, drop_rate 0.5


def test_the_default_head_needs_a_classifier_it_can_name():
    with pytest.raises(ModelContractError, match=r"_DefaultHead was built.*forward_head.*fc or classifier, not out"):
        _DefaultHead(head="out")


def test_a_head_without_pre_logits_fails_at_definition():
    with pytest.raises(ModelContractError, match=r"_NoPreLogits.*forward_head\(self, x\).*pre_logits"):

        class _NoPreLogits(_Tiny):
            def forward_head(self, x):  # noqa: ANN001, ANN202 - the point: the wrong signature
                return self.fc(x.mean((2, 3)))


def test_renamed_stage_parameters_fail_at_definition():
    with pytest.raises(ModelContractError, match=r"_Renamed.*forward_stages.*stop_index"):

        class _Renamed(_Tiny):
            def forward_stages(self, x, indices, stop=-1, norm=False):  # noqa: ANN001, ANN202
                return x, []


def test_an_added_parameter_needs_a_default():
    class _Extra(_Tiny):  # an optional extra parameter is allowed
        def forward_head(self, x: torch.Tensor, pre_logits: bool = False, scale: float = 1.0) -> torch.Tensor:
            return super().forward_head(x, pre_logits) * scale

    assert _Extra().forward_head(torch.ones(1, 4, 2, 2), scale=2.0).shape == (1, 3)
    with pytest.raises(ModelContractError, match="init_classifier"):

        class _Required(_Tiny):
            def init_classifier(self, layer, std):  # noqa: ANN001, ANN202
                nn.init.normal_(layer.weight, 0, std)


def test_a_constructor_without_the_shared_keywords_fails_at_definition():
    with pytest.raises(ModelContractError, match=r"_Fixed.*__init__ must accept num_classes, drop_rate"):

        class _Fixed(_Tiny):
            def __init__(self, *, in_chans: int = 1) -> None:
                super().__init__(in_chans=in_chans)

    class _Forwards(_Tiny):  # **kwargs passed on to a checked constructor is accepted
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)  # type: ignore[arg-type]

    assert _Forwards(num_classes=5).num_classes == 5


def test_what_the_constructor_forgot_fails_when_built():
    class _NoStages(ZooModel):
        def __init__(self, *, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0) -> None:
            super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
            self.features = nn.Sequential(nn.Conv2d(in_chans, 4, 3))

        def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
            return x

    with pytest.raises(ModelContractError) as err:
        _NoStages()
    message = str(err.value)
    assert message.startswith("test_what_the_constructor_forgot_fails_when_built.<locals>._NoStages was built")
    for missing in ("set_feature_info", "new_classifier", "num_features", "min_input_size"):
        assert missing in message


def test_contract_error_is_a_type_error():
    # code that catches the builtin for a malformed class keeps working
    assert issubclass(ModelContractError, TypeError)


class _OwnTrunk(ZooModel):
    """Stages as the network's own children (as ResNet's): the trunk runs them in registration order."""

    def __init__(self, *, num_classes: int = 3, in_chans: int = 1, drop_rate: float = 0.0, taps: tuple = ()) -> None:
        super().__init__(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
        self.stem = nn.Conv2d(in_chans, 4, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.stage1 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.set_feature_info(
            [
                dict(num_chs=4, reduction=2, module=taps[0] if taps else "act"),
                dict(num_chs=8, reduction=4, module=taps[1] if taps else "stage1"),
            ]
        )
        self.num_features, self.min_input_size = 8, (in_chans, 1, 1)
        self.fc = self.new_classifier("fc", 8)


def test_a_trunk_of_own_children_runs_scripts_and_prunes():
    model = _OwnTrunk().eval()
    x = torch.randn(2, 1, 8, 8)
    stem = model.act(model.stem(x))
    final, maps = model.forward_intermediates(x)
    torch.testing.assert_close(maps[0], stem)
    torch.testing.assert_close(final, model.stage1(stem))
    torch.testing.assert_close(torch.jit.script(model)(x), model(x))
    model.prune_intermediate_layers(indices=[0])
    assert isinstance(model.stage1, nn.Identity)
    torch.testing.assert_close(model(x), stem)


@pytest.mark.parametrize("taps", [("act", "fc.weight"), ("stage1", "act"), ("stem.weight", "stage1")])
def test_stage_outputs_must_be_trunk_layers_in_order(taps):
    with pytest.raises(ModelContractError, match=r"_OwnTrunk's stage outputs .* must be layers of its trunk"):
        _OwnTrunk(taps=taps)
