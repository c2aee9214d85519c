"""What ``create_model`` asks ``weights.load.resolve`` for: a tag in the name and a ``pretrained`` that names
other weights (a file, a Hub checkpoint, another tag) is one refusal; the same tag twice is no clash; a
``pretrained`` of no weights type is refused by resolve's annotation, wherever it came from."""

from __future__ import annotations

import pytest
import torch

import cnnzoo
from cnnzoo.errors import InvalidArgumentError


@pytest.fixture
def lenet_file(tmp_path):
    path = tmp_path / "lenet5.pth"
    torch.save(cnnzoo.create_model("lenet5").state_dict(), path)
    return path


@pytest.mark.parametrize("other", ["file", "hf-hub:someone/net", "local-dir:/nowhere", "other_tag", "lenet5.other_tag"])
def test_a_tag_in_the_name_and_other_weights_in_pretrained_is_refused(lenet_file, other):
    pretrained = str(lenet_file) if other == "file" else other
    with pytest.raises(
        InvalidArgumentError, match=r"'lenet5\.digits' names catalogued weights and pretrained=.*give one"
    ):
        cnnzoo.create_model("lenet5.digits", pretrained=pretrained)


def test_a_pretrained_cfg_tag_and_a_file_is_the_same_clash(lenet_file):
    with pytest.raises(InvalidArgumentError, match="give one"):
        cnnzoo.create_model("lenet5", pretrained=lenet_file, pretrained_cfg={"tag": "digits"})


@pytest.mark.parametrize("pretrained", ["digits", "lenet5.digits", True])
def test_the_same_tag_twice_loads_it(pretrained):
    assert cnnzoo.create_model("lenet5.digits", pretrained=pretrained).pretrained_cfg["tag"] == "lenet5.digits"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pretrained": 3},
        {"pretrained": [True]},
        {"checkpoint_path": 3},
        {"pretrained": True, "pretrained_cfg": {"file": 3}},
    ],
)
def test_a_pretrained_of_no_weights_type_is_refused_by_its_annotation(kwargs):
    with pytest.raises(InvalidArgumentError, match="pretrained must be True, a string or a PathLike"):
        cnnzoo.create_model("lenet5", **kwargs)
