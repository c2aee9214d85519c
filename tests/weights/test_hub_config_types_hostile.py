"""A Hub config.json whose fields cnnzoo reads have the wrong type, nest absurdly or are huge: one WeightsError
where the file is read, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.errors import WeightsError

pytest.importorskip("safetensors.torch")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hub")
    cnnzoo.save_pretrained(cnnzoo.create_model("lenet5", num_classes=10), path)
    return path


def _with_config(folder: Path, tmp_path: Path, text: str) -> str:
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    (tmp_path / "config.json").write_text(text)
    return f"local-dir:{tmp_path}"


def _changed(folder: Path, change: dict, pcfg: dict | None = None) -> str:
    config = json.loads((folder / "config.json").read_text())
    config.update(change)
    if pcfg:
        config["pretrained_cfg"].update(pcfg)
    return json.dumps(config)


@pytest.mark.parametrize(
    ("change", "pcfg", "field"),
    [
        ({"num_classes": "10"}, None, "num_classes is '10', not a JSON integer"),
        ({"num_classes": True}, None, "num_classes is True"),
        ({"num_classes": 10**30}, None, "num_classes is"),
        ({"architecture": 5}, None, "architecture is 5, not a JSON string"),
        ({"model_args": [1, 2]}, None, "model_args is [1, 2], not a JSON object"),
        ({"pretrained_cfg": "imagenet"}, None, "pretrained_cfg is 'imagenet'"),
        ({"label_names": "cat dog"}, None, "label_names is 'cat dog'"),
        ({"label_names": [1] * 10}, None, "not a JSON array of strings"),
        ({}, {"input_size": "224"}, "pretrained_cfg.input_size is '224'"),
        ({}, {"input_size": [3, 10**9, 224]}, "input_size must be a whole number"),
        ({}, {"input_size": [224, 224]}, "not [channels, height, width]"),
        ({}, {"crop_pct": "0.9"}, "pretrained_cfg.crop_pct is '0.9', not a JSON number"),
        ({}, {"crop_pct": 0}, "crop_pct is 0, not a JSON number in (0, 1]"),
        ({}, {"mean": ["a", "b", "c"]}, "not a JSON array of finite numbers"),
        ({}, {"std": [0, 1, 1]}, "non-zero numbers"),
        ({}, {"interpolation": ["bilinear"]}, "pretrained_cfg.interpolation is"),
    ],
)
def test_a_field_of_the_wrong_type_is_named(folder, tmp_path, change, pcfg, field):
    ref = _with_config(folder, tmp_path, _changed(folder, change, pcfg))
    with pytest.raises(WeightsError, match="config.json of local-dir") as caught:
        cnnzoo.create_model("lenet5", pretrained=ref)
    assert field in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("depth", [20, 100_000])
def test_absurd_nesting_is_refused(folder, tmp_path, depth):
    nested = '{"model_args": {"a": ' + "[" * depth + "]" * depth + "}}"
    ref = _with_config(folder, tmp_path, nested)
    with pytest.raises(WeightsError, match="nests deeper than 8 levels"):
        cnnzoo.create_model("lenet5", pretrained=ref)


@pytest.mark.parametrize("text", ["[]", '"config"', "{not json"])
def test_not_an_object_is_refused(folder, tmp_path, text):
    with pytest.raises(WeightsError, match="is not usable: "):
        cnnzoo.create_model("lenet5", pretrained=_with_config(folder, tmp_path, text))


def test_a_huge_config_is_refused_before_it_is_parsed(folder, tmp_path):
    ref = _with_config(folder, tmp_path, '{"notes": "' + "x" * (2 << 20) + '"}')
    with pytest.raises(WeightsError, match="Hub config"):
        cnnzoo.create_model("lenet5", pretrained=ref)


def test_the_fields_as_written_still_load(folder, tmp_path):
    model = cnnzoo.create_model("lenet5", pretrained=f"local-dir:{folder}")
    assert model.num_classes == 10
    nulls = _changed(folder, {"num_classes": None, "label_names": None}, {"crop_pct": None, "mean": None})
    assert cnnzoo.create_model("lenet5", pretrained=_with_config(folder, tmp_path, nulls)).num_classes == 10
