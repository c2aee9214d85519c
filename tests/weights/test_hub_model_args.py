"""A Hub folder's config.json records the constructor arguments (timm's model_args), so reading it back
rebuilds the same network: one whose arguments change the shapes, and one whose shapes they keep."""

import json

import pytest
import torch

import cnnzoo
from cnnzoo.errors import InvalidArgumentError, WeightsError
from cnnzoo.models.layers import SqueezeExcitation

pytest.importorskip("safetensors.torch")


def _random(model):
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _config(folder):
    return json.loads((folder / "config.json").read_text())


def test_model_args_rebuild_a_resnet20_of_one_channel_and_ten_classes(tmp_path):
    model = _random(cnnzoo.create_model("resnet20", num_classes=10, in_chans=1, zero_init_residual=False))
    cnnzoo.save_pretrained(model, tmp_path)
    args = _config(tmp_path)["model_args"]
    assert args == {"num_classes": 10, "in_chans": 1, "zero_init_residual": False}
    back = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


@pytest.mark.parametrize(
    "kwargs", [{"stem_type": "deep"}, {"output_stride": 16}, {"replace_stride_with_dilation": [False, True, True]}]
)
def test_a_resnet18_built_otherwise_round_trips_under_cnnzoos_name(kwargs, tmp_path):
    """Other shapes (a deep stem) or the same shapes computing otherwise (dilation): not timm's resnet18."""
    model = _random(cnnzoo.create_model("resnet18", num_classes=4, drop_rate=0.2, **kwargs))
    cnnzoo.save_pretrained(model, tmp_path)
    config = _config(tmp_path)
    assert config["architecture"] == "cnnzoo/resnet18"
    assert config["model_args"] == {**kwargs, "num_classes": 4, "in_chans": 3}  # drop rates train, left out as timm
    back = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    if "stem_type" not in kwargs:  # the same shapes: the default build loads the weights and computes otherwise
        plain = cnnzoo.create_model("resnet18", num_classes=4)
        plain.load_state_dict(model.state_dict())
        with torch.no_grad():
            assert not torch.equal(plain.eval()(x), model(x))


def test_timms_layout_names_only_timms_arguments(tmp_path):
    timm = pytest.importorskip("timm")
    model = _random(cnnzoo.create_model("resnet18", num_classes=3, zero_init_residual=False))
    cnnzoo.save_pretrained(model, tmp_path)
    config = _config(tmp_path)
    assert (
        config["architecture"] == "resnet18" and config["model_args"] == {}
    )  # as timm's save_for_hf: num_classes is the top-level field
    theirs = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (theirs(x) - model(x)).abs().max().item() == 0


def test_arguments_that_are_not_json_are_refused(tmp_path):
    model = cnnzoo.create_model("resnet18", num_classes=3, attn_layer=SqueezeExcitation)
    with pytest.raises(InvalidArgumentError, match="attn_layer"):
        cnnzoo.save_pretrained(model, tmp_path)


def test_a_folder_naming_arguments_the_model_lacks_is_refused(tmp_path):
    cnnzoo.save_pretrained(cnnzoo.create_model("resnet20", num_classes=3), tmp_path)
    config = _config(tmp_path)
    config["model_args"]["no_such_argument"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="no_such_argument"):
        cnnzoo.create_model(f"local-dir:{tmp_path}")


def test_a_pool_other_than_avg_rebuilds_in_timm_and_in_cnnzoo(tmp_path):
    """timm rebuilds from model_args alone, so a timm-named folder of a max-pooled ResNet names the pool there."""
    timm = pytest.importorskip("timm")
    model = _random(cnnzoo.create_model("resnet18", num_classes=5, global_pool="max"))
    cnnzoo.save_pretrained(model, tmp_path)
    assert _config(tmp_path)["model_args"]["global_pool"] == "max"
    x = torch.randn(2, 3, 64, 64)
    theirs = timm.create_model(f"local-dir:{tmp_path}", pretrained=True).eval()
    ours = cnnzoo.create_model(f"local-dir:{tmp_path}").eval()
    with torch.no_grad():
        want = model(x)
        torch.testing.assert_close(theirs(x), want, rtol=0, atol=0)
        torch.testing.assert_close(ours(x), want, rtol=0, atol=0)
