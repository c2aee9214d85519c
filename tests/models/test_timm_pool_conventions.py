"""timm's ``global_pool`` conventions on cnnzoo's networks.

timm's model tests (``test_model_default_cfgs``, ``test_model_default_cfgs_non_std``) expect
``reset_classifier(0, "")`` and ``create_model(name, num_classes=0, global_pool="")`` to give the
unpooled feature map, N x ``num_features`` x h x w, and ``global_pool`` to take "avg", "max",
"avgmax" (the mean of both) and "catavgmax" (both, concatenated) where a family's head allows.
Values run on one small model per head code path, on random feature maps (the trunk is the
same whatever the pooling); the shapes run on every registered model on the meta device in the
slow tier.
"""

import json

import pytest
import torch
import torch.nn.functional as F
from helpers import meta_input, meta_model, min_input, registry_params

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.base import ZooModel
from cnnzoo.models.layers import GLOBAL_POOLS

#: the hand computation of each pooling type on a feature map, to k x k, flattened (timm's definitions)
HAND = {
    "avg": lambda x, k: F.adaptive_avg_pool2d(x, k).flatten(1),
    "max": lambda x, k: F.adaptive_max_pool2d(x, k).flatten(1),
    "avgmax": lambda x, k: (0.5 * (F.adaptive_avg_pool2d(x, k) + F.adaptive_max_pool2d(x, k))).flatten(1),
    "catavgmax": lambda x, k: torch.cat([F.adaptive_avg_pool2d(x, k), F.adaptive_max_pool2d(x, k)], 1).flatten(1),
}
#: what each network class takes (a family's head that reads the pooled grid through hidden layers
#: cannot widen it; LeNet-5's C5 has one position to pool); the others take all of GLOBAL_POOLS
EXPECTED_POOLS = {
    "LeNet5": ("", "avg"),
    "AlexNet": ("", "avg", "max", "avgmax"),
    "ZFNet": ("", "avg", "max", "avgmax"),
    "VGG": ("", "avg", "max", "avgmax"),
}
#: one small model per head code path: LeNet-5's, AlexNet's (ZFNet and VGG share it), MobileNet v2's,
#: and the default head with a pooling module (ResNet, GoogLeNet with its auxiliary heads) and without
#: one (MobileNet v1, as DenseNet); every registered model's shapes run in the slow tier below
HEAD_PATHS = ["lenet5", "alexnet", "mobilenet_v2", "resnet20", "googlenet", "mobilenet_v1_025"]


def _small_model(name, **kwargs):
    """The model with random weights, built on the meta device and then given memory: the
    constructors' initialisation of AlexNet's fc6/fc7 or GoogLeNet's truncated normals would be
    most of this file's time, and the pooling does not depend on it."""
    kwargs.setdefault("num_classes", 3)
    model = meta_model(name, **kwargs).to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
        for n, b in model.named_buffers():
            b.fill_(1 if n.endswith("running_var") else 0)
    return model.eval()


def _feature_map(model):
    """A random map of the model's num_features, larger than its pooling grid (so max and avg differ)."""
    side = 1 if model.fixed_input_size else 3 * model.pool_output_size + 1  # LeNet-5's C5 has one position
    return torch.randn(2, model.num_features, side, side)


def _pre_logits_by_hand(model, feats, pool):
    """The head up to the classifier, computed from the feature map without the model's head."""
    x = HAND[pool](feats, model.pool_output_size)
    name = type(model).__name__
    if name in ("AlexNet", "ZFNet", "VGG"):
        for layer in list(model.classifier)[:6]:  # fc6 and fc7 with their ReLU and (eval: identity) dropout
            x = layer(x)
    elif name == "LeNet5":
        x = model.act6(model.f6(x))
    return x


@pytest.mark.parametrize("name", HEAD_PATHS)
def test_pool_values_equal_hand_computation(name):
    """Each pooling type gives the hand-computed pre-logits and logits; '' gives the map itself."""
    model = _small_model(name)
    assert model.global_pool == "avg"
    assert model.global_pools == EXPECTED_POOLS.get(type(model).__name__, GLOBAL_POOLS)
    feats = _feature_map(model)
    with torch.no_grad():
        default_logits = model.forward_head(feats)
        for pool in [p for p in model.global_pools if p]:
            model.set_global_pool(pool)
            assert model.global_pool == pool
            want = _pre_logits_by_hand(model, feats, pool)
            assert want.shape == (2, model.head_hidden_size)
            torch.testing.assert_close(model.forward_head(feats, pre_logits=True), want, rtol=0, atol=1e-6)
            torch.testing.assert_close(model.forward_head(feats), model.get_classifier()(want), rtol=0, atol=1e-5)
        if "max" in model.global_pools:  # the check means something: the pools differ on this map
            assert not torch.allclose(HAND["max"](feats, 1), HAND["avg"](feats, 1))
        model.set_global_pool("avg")
        if "catavgmax" not in model.global_pools:  # the classifiers were kept throughout: the default logits are back
            torch.testing.assert_close(model.forward_head(feats), default_logits, rtol=0, atol=0)
        model.reset_classifier(0, "")
        assert model.num_classes == 0 and model.global_pool == ""
        torch.testing.assert_close(model.forward_head(feats), feats, rtol=0, atol=0)
        torch.testing.assert_close(model.forward_head(feats, pre_logits=True), feats, rtol=0, atol=0)
        if type(model).forward is not ZooModel.forward or model.fixed_input_size:
            # a forward of the family's own (GoogLeNet's) or with its own input check (LeNet-5's) ends at the map too
            x = min_input(model, batch=1)
            out = model(x)
            torch.testing.assert_close(out, model.forward_features(x), rtol=0, atol=0)
            assert out.ndim == 4 and out.shape[1] == model.num_features


@pytest.mark.parametrize("name", ["lenet5", "resnet20", "mobilenet_v2"])
def test_create_model_global_pool_equals_reset_path(name):
    """create_model(global_pool=...) builds what set_global_pool makes of the default build; '' needs no classes."""
    pool = "max"  # the value timm's own tests pass
    model = _small_model(name)
    if pool not in model.global_pools:  # LeNet-5: refused at the factory, naming what it takes
        with pytest.raises(InvalidArgumentError, match="'avg'"):
            _small_model(name, global_pool=pool)
        return
    made = _small_model(name, global_pool=pool)
    assert made.global_pool == pool
    model.set_global_pool(pool)  # the same weights (the same draw), the pool changed afterwards
    feats = _feature_map(model)
    with torch.no_grad():
        torch.testing.assert_close(made.forward_head(feats), model.forward_head(feats), rtol=0, atol=0)
    unpooled = _small_model(name, num_classes=0, global_pool="")
    assert unpooled.global_pool == "" and unpooled.num_classes == 0
    with torch.no_grad():
        torch.testing.assert_close(unpooled.forward_head(feats), feats, rtol=0, atol=0)


@pytest.mark.slow
def test_unpooled_and_mixed_pools_script_and_trace():
    """TorchScript and torch.fx take a model whose pooling was changed (the string is read in forward_head)."""
    for pool, classes in (("avgmax", 3), ("", 0)):
        model = _small_model("resnet20", num_classes=classes, global_pool=pool)
        x = torch.randn(1, 3, 16, 16)
        with torch.no_grad():
            want = model(x)
            torch.testing.assert_close(torch.jit.script(model)(x), want, rtol=0, atol=1e-6)
            torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), want, rtol=0, atol=1e-6)
        assert want.ndim == (4 if pool == "" else 2)


def test_catavgmax_doubles_the_head_width_not_num_features():
    """timm's meaning: num_features stays the map's channels; head_hidden_size (the classifier's input) doubles."""
    model = _small_model("resnet20", global_pool="catavgmax")
    assert model.num_features == 64 and model.head_hidden_size == 128 and model.fc.in_features == 128
    model.reset_classifier(5, "avg")
    assert model.head_hidden_size == 64 and model.fc.in_features == 64 and model.fc.out_features == 5


@pytest.mark.parametrize("bad", ["fancy", "AVG", "none", 1, ("avg",)])
def test_unknown_pools_are_refused(bad):
    model = _small_model("resnet20")
    with pytest.raises(InvalidArgumentError, match="'avgmax'"):
        model.reset_classifier(3, bad)
    with pytest.raises(InvalidArgumentError, match="global_pool"):
        cnnzoo.create_model("resnet20", global_pool=bad)
    assert model.global_pool == "avg" and model.fc.out_features == 3  # nothing changed by the refusal


def test_refusals_name_what_the_family_takes():
    with pytest.raises(InvalidArgumentError, match=r"'' or 'avg' or 'max' or 'avgmax'.*fc6"):
        meta_model("vgg11", global_pool="catavgmax")
    with pytest.raises(InvalidArgumentError, match=r"'' or 'avg'.*C5"):
        meta_model("lenet5").reset_classifier(0, "max")
    # an unpooled map has no width for a classifier (timm's rule)
    with pytest.raises(InvalidArgumentError, match="num_classes=0"):
        cnnzoo.create_model("resnet20", global_pool="")
    with pytest.raises(InvalidArgumentError, match="num_classes=0"):
        _small_model("resnet20").reset_classifier(10, "")


def test_pool_round_trips_through_the_hub_folder(tmp_path):
    """save_pretrained records the real global_pool; reading the folder builds the model with it."""
    model = _small_model("resnet20", global_pool="avgmax")
    cnnzoo.save_pretrained(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["global_pool"] == "avgmax"
    back = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    assert back.global_pool == "avgmax"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


def test_default_pool_keeps_pretrained_outputs(tmp_path):
    """A weights file loads as before with the default pool, and global_pool='avg' changes nothing."""
    trained = _small_model("resnet20")
    path = tmp_path / "resnet20.pth"
    torch.save(trained.state_dict(), path)
    default = cnnzoo.create_model("resnet20", pretrained=path).eval()
    named = cnnzoo.create_model("resnet20", pretrained=path, global_pool="avg").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = trained(x)
        torch.testing.assert_close(default(x), want, rtol=0, atol=0)
        torch.testing.assert_close(named(x), want, rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", registry_params(cnnzoo.list_models()))
def test_every_model_unpooled_and_pooled_shapes(name):
    """Every registered model (meta device): '' gives forward_features' map, each pool the declared width."""
    model = meta_model(name, num_classes=4).eval()
    c, h, w = model.min_input_size
    x = meta_input(1, c, h, w) if model.fixed_input_size else meta_input(1, c, max(h, 32), max(w, 32))
    feats = model.forward_features(x)
    for pool in [p for p in model.global_pools if p]:
        model.set_global_pool(pool)
        assert model.forward_head(feats, pre_logits=True).shape == (1, model.head_hidden_size)
        assert model.forward_head(feats).shape == (1, 4)
    model.reset_classifier(0, "")
    assert model(x).shape == feats.shape == (1, model.num_features, *feats.shape[2:])
