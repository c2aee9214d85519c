import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.errors import DuplicateModelError, InvalidArgumentError, UnknownModelError

# Every name the zoo promises (README, docs/models.md); a missing registration fails here.
EXPECTED = """
lenet5 alexnet alexnet_original zfnet
vgg11 vgg13 vgg16 vgg19 vgg11_bn vgg13_bn vgg16_bn vgg19_bn
googlenet
resnet18 resnet34 resnet50 resnet101 resnet152
resnet18v2 resnet34v2 resnet50v2 resnet101v2 resnet152v2
se_resnet18 se_resnet34 se_resnet50 se_resnet101 se_resnet152
se_resnext50_32x4d se_resnext101_32x4d senet154
densenet121 densenet161 densenet169 densenet201 densenet_bc_100_k12
mobilenet_v1 mobilenet_v1_075 mobilenet_v1_050 mobilenet_v1_025 mobilenet_v2
resnext50_32x4d resnext101_32x8d wide_resnet50_2 wide_resnet101_2
resnet20 resnet32 resnet44 resnet56 resnet110 resnet1202 plain20 plain32 plain44 plain56
vgg11_lrn vgg16_c zfnet_wide
""".split()


def test_every_promised_model_is_registered():
    missing = sorted(set(EXPECTED) - set(cnnzoo.list_models()))
    assert not missing, f"not registered: {missing}"


def test_list_models_wildcards_and_order():
    assert cnnzoo.list_models("resnet*")[:6] == [
        "resnet18",
        "resnet18v2",
        "resnet20",
        "resnet32",
        "resnet34",
        "resnet34v2",
    ]
    assert cnnzoo.list_models("resnet*", family="resnet_cifar")[-2:] == ["resnet110", "resnet1202"]
    assert cnnzoo.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert cnnzoo.list_models(["lenet*", "zfnet"]) == ["lenet5", "zfnet"]
    assert cnnzoo.list_models("nothing*") == []
    assert "resnet50" not in cnnzoo.list_models("resnet*", exclude="*50*")


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as e:
        cnnzoo.create_model("resnet5")
    assert isinstance(e.value, KeyError)
    assert "resnet50" in e.value.suggestions
    assert "did you mean" in str(e.value) and "resnet50" in str(e.value)
    with pytest.raises(UnknownModelError, match="vgg16"):
        cnnzoo.model_info("vgg61")


def test_unknown_constructor_argument_is_an_error():
    with pytest.raises(InvalidArgumentError, match="num_clases"):
        cnnzoo.create_model("resnet18", num_clases=10)


@pytest.mark.parametrize("kw", [{"num_classes": -1}, {"in_chans": 0}, {"num_classes": 2.5}, {"in_chans": True}])
def test_bad_shared_arguments(kw):
    with pytest.raises(InvalidArgumentError):
        cnnzoo.create_model("lenet5", **kw)


def test_model_info_fields():
    info = cnnzoo.model_info("resnet50")
    assert info["family"] == "resnet"
    assert info["year"] == 2015 and "He" in info["authors"] and "Residual" in info["paper"]
    assert info["input_size"] == (3, 224, 224)
    assert isinstance(info["has_pretrained"], bool)
    for name in cnnzoo.list_models():
        info = cnnzoo.model_info(name)
        assert info["paper"] and info["authors"] and info["year"], name


def test_register_model_for_user_models_and_duplicates():
    @cnnzoo.register_model
    def my_tiny_net(*, num_classes: int = 1000, in_chans: int = 3) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(in_chans, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes)
        )

    try:
        assert "my_tiny_net" in cnnzoo.list_models("my_*")
        m = cnnzoo.create_model("my_tiny_net", num_classes=3, in_chans=1)
        assert m(torch.randn(2, 1, 8, 8)).shape == (2, 3)
        with pytest.raises(DuplicateModelError):
            cnnzoo.register_model(my_tiny_net)
        with pytest.raises(DuplicateModelError):
            cnnzoo.register_model(name="resnet50")(my_tiny_net)
    finally:
        from cnnzoo.models import registry

        registry._REGISTRY.pop("my_tiny_net", None)
