"""timm's create_model("cnnzoo_<name>.<tag>", pretrained=False) builds the network without its weights.

timm splits a tagged name and hands the tag over as ``pretrained_cfg``; in timm that tag chooses the
weights only when ``pretrained`` is true (timm's own test_model_default_cfgs builds every tagged name
with ``pretrained=False``, offline).
"""

import pytest
import torch

import cnnzoo
import cnnzoo.ecosystem
from cnnzoo.errors import OfflineError

timm = pytest.importorskip("timm")


def test_timm_tagged_name_without_pretrained_builds_untrained(tmp_path):
    cnnzoo.ecosystem.timm_register(["resnet18"])
    # an empty cache: weights, if asked for, would be fetched into it (or, offline, refused)
    model = timm.create_model("cnnzoo_resnet18.tv_in1k", pretrained=False, cache_dir=str(tmp_path)).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    # a pretrained_cfg tag with pretrained=False asks for no weights in cnnzoo's own API either
    cnnzoo.create_model("resnet18", pretrained=False, pretrained_cfg="tv_in1k", cache_dir=str(tmp_path))
    assert not any(tmp_path.rglob("*.pth"))
    # while a tag in cnnzoo's own name still asks for its weights (tests run offline: refused)
    with pytest.raises(OfflineError):
        cnnzoo.create_model("resnet18.tv_in1k", cache_dir=str(tmp_path))
