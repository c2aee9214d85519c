"""cnnzoo's models built by timm's and torchvision's own factories (cnnzoo.ecosystem)."""

import pytest
import torch

import cnnzoo
from cnnzoo import ecosystem
from cnnzoo.errors import DuplicateModelError, InvalidArgumentError

timm = pytest.importorskip("timm")
timm_loss = pytest.importorskip("timm.loss")
timm_optim = pytest.importorskip("timm.optim")
torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def registered():
    return ecosystem.timm_register(), ecosystem.torchvision_register()


def test_every_model_is_in_both_registries(registered):
    in_timm, in_tv = registered
    expected = [ecosystem.PREFIX + n for n in cnnzoo.list_models()]
    assert in_timm == expected and in_tv == expected
    assert set(expected) <= set(timm.list_models("cnnzoo_*"))
    assert set(expected) <= set(torchvision.models.list_models(include="cnnzoo_*"))
    assert ecosystem.timm_register() == expected  # idempotent


def test_timm_create_model_with_its_train_py_arguments(registered):
    # the call timm's train.py makes (None values are dropped by timm itself)
    model = timm.create_model(
        "cnnzoo_resnet20",
        pretrained=False,
        in_chans=3,
        num_classes=7,
        drop_rate=0.0,
        drop_path_rate=0.05,
        drop_block_rate=None,
        global_pool=None,
        bn_momentum=0.05,
        bn_eps=None,
        scriptable=None,
        checkpoint_path=None,
    )
    assert isinstance(model, cnnzoo.models.resnet.ResNet) and model.num_classes == 7
    assert model.bn1.momentum == 0.05
    assert timm.data.resolve_data_config({}, model=model)["input_size"] == (3, 32, 32)


def test_timm_pretrained_and_tag(registered):
    model = timm.create_model("cnnzoo_lenet5", pretrained=True)
    assert model.pretrained_cfg["tag"] == "lenet5.digits"
    tagged = timm.create_model("cnnzoo_lenet5.digits", pretrained=True)
    assert torch.equal(tagged.output.weight, model.output.weight)


def test_timm_features_only(registered):
    model = timm.create_model("cnnzoo_resnet18", features_only=True, out_indices=(2, 4))
    assert [m.shape[1] for m in model(torch.randn(1, 3, 64, 64))] == model.feature_info.channels() == [128, 512]


@pytest.mark.slow
def test_googlenet_gives_a_tensor_to_a_generic_training_loop(registered):
    model = timm.create_model("cnnzoo_googlenet", num_classes=4).train()
    optimizer = timm_optim.create_optimizer_v2(model, "sgd", lr=0.01)
    loss_fn = timm_loss.LabelSmoothingCrossEntropy(0.1)
    x, y = torch.randn(2, 3, 64, 64), torch.tensor([0, 3])
    for _ in range(2):  # timm's train_one_epoch: loss_fn(model(x), y)
        output = model(x)
        assert isinstance(output, torch.Tensor)
        loss = loss_fn(output, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)
    with_aux = timm.create_model("cnnzoo_googlenet", num_classes=4, aux_logits=True).train()
    assert hasattr(with_aux(x), "aux_logits")


def test_torchvision_get_model_with_weights(registered):
    model = torchvision.models.get_model("cnnzoo_lenet5", weights="DEFAULT")
    assert model.pretrained_cfg["tag"] == "lenet5.digits"
    fresh = torchvision.models.get_model("cnnzoo_resnet20", weights=None, num_classes=3)
    assert fresh.num_classes == 3 and "file" not in fresh.pretrained_cfg
    with pytest.raises(InvalidArgumentError, match="weights"):
        torchvision.models.get_model("cnnzoo_resnet20", weights=3)


def test_names_the_peers_have_for_another_model_are_not_taken(registered, monkeypatch):
    from timm.models import _registry

    monkeypatch.setitem(_registry._model_entrypoints, "cnnzoo_resnet20", lambda **kw: None)
    with pytest.raises(DuplicateModelError, match="cnnzoo_resnet20"):
        ecosystem.timm_register(["resnet20"])
