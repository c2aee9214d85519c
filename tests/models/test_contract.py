"""The model contract (cnnzoo.models.base): one interface, checked on every registered model.

Shapes and names run on the meta device for every model; values (pre-logits, the new
classifier's device, dtype and initialisation) run on one model per network class.
"""

import pytest
import torch
from helpers import (
    BIG_HEADS,
    SLOW_REPRESENTATIVES,
    meta_input,
    meta_model,
    min_input,
    registry_params,
    representative_params,
)
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models import registry
from cnnzoo.models.base import ZooModel, classifier_names, first_conv_name

ALL = registry_params(cnnzoo.list_models())


@pytest.mark.parametrize("name", ALL)
def test_interface_on_meta(name):
    """Shapes, names and the classifier reset of every registered model (meta device: no compute)."""
    model = meta_model(name, num_classes=5, in_chans=2).eval()
    assert isinstance(model, ZooModel) and model.arch_name == name
    c, h, w = model.min_input_size
    x = meta_input(2, c, h, w) if model.fixed_input_size else meta_input(2, c, max(h, 32), max(w, 32))
    feats = model.forward_features(x)
    # num_features: the channels of forward_features (timm's meaning); head_hidden_size: pre-logits
    assert feats.ndim == 4 and feats.shape[:2] == (2, model.num_features)
    assert model.forward_head(feats, pre_logits=True).shape == (2, model.head_hidden_size)
    assert model.forward_head(feats).shape == (2, 5)
    # the design input size gives logits too
    assert model(meta_input(1, c, *cnnzoo.model_info(name)["input_size"][1:])).shape == (1, 5)
    # the classifiers are real modules, the main one first; the first conv reads in_chans
    names = classifier_names(model)
    assert model.get_submodule(names[0]) is model.get_classifier()
    assert all(model.get_submodule(n).out_features == 5 for n in names)
    first = model.get_submodule(first_conv_name(model))
    assert isinstance(first, nn.Conv2d) and first.in_channels == 2
    cfg = model.pretrained_cfg
    assert cfg["architecture"] == name and cfg["input_size"][0] == 2 and cfg["num_classes"] == 5
    assert cfg["first_conv"] == first_conv_name(model)
    assert cfg["classifier"] == (names[0] if len(names) == 1 else names)
    assert cfg["min_input_size"] == model.min_input_size
    assert model.default_cfg is cfg  # timm's older name
    # reset_classifier: new heads where the model is (here: on the meta device)
    model.reset_classifier(3)
    assert model.num_classes == 3 and model.forward_head(feats).shape == (2, 3)
    assert all(model.get_submodule(n).weight.device.type == "meta" for n in classifier_names(model))
    model.reset_classifier(0)  # timm's convention: no classifier, the pre-logits features out
    assert model.forward_head(feats).shape == (2, model.head_hidden_size)
    assert isinstance(model.get_classifier(), nn.Identity)
    with pytest.raises(InvalidArgumentError, match="num_classes"):
        model.reset_classifier(-1)
    with pytest.raises(InvalidArgumentError, match="avg"):
        model.reset_classifier(3, global_pool="fancy")


@pytest.mark.parametrize("name", ALL)
def test_registered_function_equals_create_model(name):
    """Calling the registered constructor directly gives what create_model gives, cfg included."""
    with torch.device("meta"):
        direct = registry.get_model_entry(name).constructor()
        made = cnnzoo.create_model(name)
    assert type(direct) is type(made) and direct.arch_name == made.arch_name == name
    assert direct.pretrained_cfg == made.pretrained_cfg
    assert [(k, v.shape) for k, v in direct.state_dict().items()] == [
        (k, v.shape) for k, v in made.state_dict().items()
    ]
    info = cnnzoo.model_info(name)
    assert direct.num_classes == info["num_classes"] and direct.in_chans == info["input_size"][0]


def test_module_level_constructor_sets_the_cfg_that_predict_needs():
    from cnnzoo.models.resnet import resnet50

    with torch.device("meta"):
        model = resnet50(num_classes=10)
    assert model.pretrained_cfg["architecture"] == "resnet50" and model.pretrained_cfg["num_classes"] == 10


@pytest.mark.parametrize("name", representative_params(SLOW_REPRESENTATIVES | BIG_HEADS))
def test_pre_logits_is_the_classifier_input(name):
    """forward == forward_head(forward_features); the classifier applied to pre_logits is the output."""
    model = cnnzoo.create_model(name, num_classes=4).eval()
    x = min_input(model)
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
        torch.testing.assert_close(model.forward_head(feats), out)
        torch.testing.assert_close(model.get_classifier()(model.forward_head(feats, pre_logits=True)), out)


@pytest.mark.parametrize("name", representative_params(SLOW_REPRESENTATIVES | BIG_HEADS))
def test_new_head_follows_the_model_device_and_dtype(name):
    model = cnnzoo.create_model(name, num_classes=4).double().eval()
    model.reset_classifier(6)
    for head in classifier_names(model):
        assert all(p.dtype == torch.float64 for p in model.get_submodule(head).parameters()), head
    with torch.no_grad():
        out = model(min_input(model, batch=1).double())
    assert out.dtype == torch.float64 and out.shape == (1, 6)


@pytest.mark.parametrize(
    "name",
    [
        p
        for p in representative_params(SLOW_REPRESENTATIVES | BIG_HEADS)
        if getattr(p, "values", (p,))[0] not in ("vgg11", "alexnet_original")
    ],
)
def test_reset_classifier_initialises_as_the_constructor(name):
    """create_model(num_classes=n) and reset_classifier(n) draw the head from one distribution."""

    def stats(layer: nn.Module) -> tuple[float, float, float]:
        w = layer.weight.detach()
        b = layer.bias.detach() if getattr(layer, "bias", None) is not None else torch.zeros(1)
        return w.std().item(), w.mean().item(), b.abs().max().item()

    built = cnnzoo.create_model(name, num_classes=200).get_classifier()
    reset = cnnzoo.create_model(name, num_classes=3)
    reset.reset_classifier(200)
    (sd_a, mean_a, bias_a), (sd_b, mean_b, bias_b) = stats(built), stats(reset.get_classifier())
    assert sd_b == pytest.approx(sd_a, rel=0.1)
    assert abs(mean_a - mean_b) < 0.1 * sd_a + 1e-6
    assert (bias_a == 0) == (bias_b == 0) and bias_b <= 1.2 * bias_a + 1e-6


def test_dropout_has_one_name_and_pre_logits_follows_it():
    """``drop_rate`` is the head dropout everywhere (timm's name); pre-logits are after it."""
    for name, default in [
        ("alexnet", 0.5),
        ("vgg11", 0.5),
        ("googlenet", 0.2),
        ("mobilenet_v2", 0.2),
        ("senet154", 0.2),
        ("resnet18", 0.0),
        ("densenet121", 0.0),
        ("lenet5", 0.0),
    ]:
        assert meta_model(name).drop_rate == default, name
        assert meta_model(name, drop_rate=0.3).drop_rate == 0.3, name
    for name in ("googlenet", "mobilenet_v2", "alexnet"):
        with pytest.raises(InvalidArgumentError, match="dropout"):
            meta_model(name, dropout=0.1)  # torchvision's name is not a second spelling
    model = cnnzoo.create_model("mobilenet_v1_025", num_classes=3, drop_rate=0.5).train()
    feats = torch.rand(16, model.num_features, 2, 2) + 1.0
    with torch.no_grad():
        pre = model.forward_head(feats, pre_logits=True)
    assert bool((pre == 0).any()) and bool((pre[pre != 0] > 1.0).all())  # dropped, survivors scaled
