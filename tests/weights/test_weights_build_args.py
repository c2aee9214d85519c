"""Weights that need a constructor argument get it at the build, before loading, not set afterwards.

torchvision's GoogLeNet file expects ``transform_input=True`` (inputs re-normalised inside the
network); ``create_model`` resolves the weights first and builds the network with it, as
torchvision's builders and timm's ``build_model_with_cfg`` do.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

import cnnzoo
import cnnzoo.factory
from cnnzoo.weights import cache
from cnnzoo.weights.catalogue import CATALOGUE

TAG = "googlenet.tv_in1k"


@pytest.fixture
def googlenet_file(monkeypatch):
    """The catalogued GoogLeNet file, in the cache, holding random weights of the same layout."""
    entry = CATALOGUE[TAG]
    assert entry.model_attrs == {"transform_input": True}
    source = cnnzoo.create_model("googlenet", aux_logits=True)
    path = cache.cache_dir() / entry.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(source.state_dict(), path)
    monkeypatch.setitem(CATALOGUE, TAG, dataclasses.replace(entry, sha256=cache.sha256_file(path), hash_prefix=None))
    return source


@pytest.fixture
def builds(monkeypatch):
    """The constructor arguments of every network create_model builds."""
    calls = []
    build = cnnzoo.factory.build_model

    def spy(info, kwargs, num_classes=None, in_chans=None):
        calls.append(dict(kwargs))
        return build(info, kwargs, num_classes, in_chans)

    monkeypatch.setattr(cnnzoo.factory, "build_model", spy)
    return calls


def test_the_weights_argument_reaches_the_constructor(googlenet_file, builds):
    model = cnnzoo.create_model(TAG)
    assert builds == [{"transform_input": True}]  # built once, as the weights need
    assert model.transform_input is True and model.pretrained_cfg["tag"] == TAG
    torch.testing.assert_close(
        model.state_dict()["conv1.conv.weight"], googlenet_file.state_dict()["conv1.conv.weight"]
    )


def test_an_argument_the_call_gives_wins_with_a_warning(googlenet_file, builds, caplog):
    with caplog.at_level(logging.WARNING, logger="cnnzoo"):
        model = cnnzoo.create_model(TAG, transform_input=False)
    assert builds == [{"transform_input": False}] and model.transform_input is False
    assert "trained with transform_input=True" in caplog.text


def test_no_such_argument_for_an_adapted_first_convolution(googlenet_file, builds):
    # transform_input re-normalises three ImageNet channels: a one-channel network has none
    model = cnnzoo.create_model(TAG, in_chans=1)
    assert builds == [{}] and model.transform_input is False and model.in_chans == 1


def test_a_local_copy_recognised_by_its_hash_gets_the_argument_too(googlenet_file, builds, tmp_path):
    copy = tmp_path / "g.pth"
    copy.write_bytes((cache.cache_dir() / CATALOGUE[TAG].filename).read_bytes())
    model = cnnzoo.create_model("googlenet", pretrained=copy)
    assert builds == [{"transform_input": True}] and model.pretrained_cfg["tag"] == TAG
