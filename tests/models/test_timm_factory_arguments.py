"""timm's factory arguments, accepted by ``cnnzoo.create_model`` with timm's meanings.

``pretrained_cfg`` (+ ``pretrained_cfg_overlay``, ``file=``), ``cache_dir``, ``checkpoint_path``,
``global_pool``, ``drop_rate``/``drop_path_rate``, ``bn_momentum``/``bn_eps``, ``zero_init_last``,
``feature_cls="getter"``, ``feature_cfg`` and ``pretrained_cfg["pool_size"]``; unknown
arguments stay errors.
"""

import pytest
import torch
from helpers import BIG_HEADS, meta_input, meta_model

import cnnzoo
from cnnzoo.errors import IncompatibleWeightsError, InvalidArgumentError, OfflineError
from cnnzoo.models.backbone import FeatureGetterNet
from cnnzoo.weights import cache, hfhub


def _random_resnet20(**kwargs):
    model = cnnzoo.create_model("resnet20", **kwargs)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def test_overlay_file_loads_a_local_file_only_when_pretrained(tmp_path):
    trained = _random_resnet20(num_classes=10)
    path = tmp_path / "w.pth"
    torch.save(trained.state_dict(), path)
    x = torch.randn(2, 3, 32, 32)
    loaded = cnnzoo.create_model("resnet20", pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
    assert torch.equal(loaded(x), trained(x))
    assert loaded.pretrained_cfg["file"] == str(path)
    fresh = cnnzoo.create_model("resnet20", num_classes=10, pretrained_cfg_overlay=dict(file=str(path))).eval()
    assert not torch.equal(fresh(x), trained(x))


def test_pretrained_cfg_dict_chooses_weights_and_its_other_entries_are_recorded(tmp_path):
    trained = _random_resnet20(num_classes=10)
    path = tmp_path / "w.pth"
    torch.save(trained.state_dict(), path)
    model = cnnzoo.create_model(
        "resnet20",
        pretrained=True,
        pretrained_cfg=dict(file=str(path), mean=(0.1, 0.2, 0.3)),
        pretrained_cfg_overlay=dict(crop_pct=0.9, num_classes=-1),
    )
    assert model.pretrained_cfg["mean"] == (0.1, 0.2, 0.3) and model.pretrained_cfg["crop_pct"] == 0.9
    assert model.num_classes == 10  # timm's num_classes=-1 ("adapt the head") records nothing


def test_pretrained_cfg_tag_names_catalogued_weights():
    by_cfg = cnnzoo.create_model("lenet5", pretrained=True, pretrained_cfg="digits")
    assert by_cfg.pretrained_cfg["tag"] == "lenet5.digits"
    with pytest.raises(InvalidArgumentError, match="tag"):
        cnnzoo.create_model("lenet5.digits", pretrained_cfg="other")


@pytest.mark.parametrize("bad", [dict(colour="red"), 3])
def test_bad_pretrained_cfg_is_refused(bad):
    with pytest.raises(InvalidArgumentError, match="pretrained_cfg"):
        cnnzoo.create_model("resnet20", pretrained_cfg=bad)


def test_url_pretrained_cfg_says_to_download_and_pass_a_file():
    with pytest.raises(InvalidArgumentError, match="file="):
        cnnzoo.create_model("resnet20", pretrained=True, pretrained_cfg=dict(url="https://example.com/w.pth"))


def test_cache_dir_is_where_downloads_are_looked_for(tmp_path):
    with cache.using_cache_dir(tmp_path):
        assert cache.cache_dir() == tmp_path and hfhub.hub_cache_dir() == tmp_path
    assert cache.cache_dir() != tmp_path and hfhub.hub_cache_dir() != tmp_path
    with pytest.raises(OfflineError, match=str(tmp_path)):  # tests run offline: the message names the folder
        cnnzoo.create_model("resnet18", pretrained=True, cache_dir=tmp_path)


def test_checkpoint_path_loads_strictly(tmp_path):
    trained = _random_resnet20(num_classes=10)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, path)
    model = cnnzoo.create_model("resnet20", num_classes=10, checkpoint_path=path).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(x), trained(x))
    with pytest.raises(IncompatibleWeightsError, match="fc.weight"):  # 1000 classes here, 10 in the file
        cnnzoo.create_model("resnet20", num_classes=100, checkpoint_path=path)


def test_global_pool():
    assert cnnzoo.create_model("resnet20", global_pool="avg").num_classes == 10
    for bad in ("fancy", "AVG", 1):
        with pytest.raises(InvalidArgumentError, match="global_pool"):
            cnnzoo.create_model("resnet20", global_pool=bad)


def test_bn_momentum_and_eps_reach_every_batchnorm():
    model = cnnzoo.create_model("resnet20", bn_momentum=0.01, bn_eps=1e-3)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)
    with pytest.raises(InvalidArgumentError, match="no BatchNorm"):
        cnnzoo.create_model("lenet5", bn_eps=1e-3)
    with pytest.raises(InvalidArgumentError, match="bn_momentum"):
        cnnzoo.create_model("resnet20", bn_momentum=2.0)


def test_zero_init_last_is_zero_init_residual():
    model = cnnzoo.create_model("resnet20", zero_init_last=True)
    assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for b in model.layer1)
    model = cnnzoo.create_model("resnet20", zero_init_last=False)
    assert all(float(b.bn2.weight.detach().abs().sum()) > 0 for b in model.layer1)
    assert cnnzoo.create_model("lenet5", zero_init_last=False).num_classes == 10
    with pytest.raises(InvalidArgumentError, match="residual"):
        cnnzoo.create_model("lenet5", zero_init_last=True)


def test_drop_rates_go_to_the_network():
    model = cnnzoo.create_model("resnet20", drop_rate=0.2, drop_path_rate=0.1)
    assert model.drop_rate == 0.2
    with pytest.raises(InvalidArgumentError, match="drop_path_rate"):
        cnnzoo.create_model("vgg11", drop_path_rate=0.1)


def test_unknown_arguments_stay_errors():
    with pytest.raises(InvalidArgumentError, match="drop_rat"):
        cnnzoo.create_model("resnet20", drop_rat=0.1)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in BIG_HEADS else n
        for n in ["resnet18", "googlenet", "densenet121", "vgg11_bn", "mobilenet_v2", "alexnet"]
    ],
)
def test_getter_features_are_forward_intermediates(name):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    getter = cnnzoo.create_model(name, features_only=True, feature_cls="getter")
    getter.model.load_state_dict(model.state_dict(), strict=False)  # the pruned head's keys are left over
    getter.eval()
    assert isinstance(getter, FeatureGetterNet)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.forward_intermediates(x, intermediates_only=True)
        got = getter(x)
    assert len(got) == len(expected) == len(getter.feature_info)
    assert all(torch.equal(a, b) for a, b in zip(got, expected))
    assert getter.feature_info.channels() == [m.shape[1] for m in got]


def test_feature_cfg():
    cfg = dict(out_indices=(1, 3), feature_cls="dict")
    model = cnnzoo.create_model("resnet18", features_only=True, feature_cfg=cfg)
    assert list(model(torch.randn(1, 3, 64, 64))) == ["1", "3"]
    with pytest.raises(InvalidArgumentError, match="feature_cfg"):
        cnnzoo.create_model("resnet18", features_only=True, feature_cfg=dict(colour=1))
    with pytest.raises(InvalidArgumentError, match="features_only"):
        cnnzoo.create_model("resnet18", feature_cfg=dict(out_indices=(1,)))
    with pytest.raises(InvalidArgumentError, match="feature_cls"):
        cnnzoo.create_model("resnet18", features_only=True, feature_cls="hook")


# a meta forward through many BatchNorms takes seconds: the families' representatives in the fast tier
_POOL_FAST = {"alexnet", "zfnet", "lenet5", "vgg11", "resnet20", "googlenet", "mobilenet_v1_025"}


@pytest.mark.parametrize(
    "name", [n if n in _POOL_FAST else pytest.param(n, marks=pytest.mark.slow) for n in cnnzoo.list_models()]
)
def test_pool_size_is_the_feature_map_at_the_design_input(name):
    # timm's test_model_default_cfgs: forward_features at input_size is N x C x pool_size
    model = meta_model(name)
    cfg = model.pretrained_cfg
    out = model.forward_features(meta_input(2, *cfg["input_size"]))
    assert tuple(out.shape[-2:]) == cfg["pool_size"]
