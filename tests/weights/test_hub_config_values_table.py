"""The config.json fields cnnzoo reads are checked by one table through the one type check (limits.conform):
values JSON allows but no preprocessing can use (NaN, Infinity, true for a number, a fractional size) are one
WeightsError naming the field, and a reference that is not hf-hub:ORG/NAME is refused where it is parsed."""

from __future__ import annotations

import pytest

from cnnzoo.errors import WeightsError
from cnnzoo.weights import hfhub


@pytest.mark.parametrize(
    ("pcfg_text", "field"),
    [
        ('"crop_pct": NaN', "pretrained_cfg.crop_pct is nan, not a JSON number in (0, 1]"),
        ('"mean": [Infinity, 0.5, 0.5]', "pretrained_cfg.mean is [inf, 0.5, 0.5], not a JSON array of finite"),
        ('"std": [true, 0.5, 0.5]', "pretrained_cfg.std is [True, 0.5, 0.5]"),
        ('"input_size": [1, 32.5, 32]', "input_size must be a whole number"),
    ],
)
def test_json_values_no_preprocessing_can_use(tmp_path, pcfg_text, field):
    # config.json is read and checked before the weights file is opened: an empty one stands in
    (tmp_path / "config.json").write_text('{"architecture": "cnnzoo/lenet5", "pretrained_cfg": {' + pcfg_text + "}}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"config\.json of local-dir:.* is not usable") as caught:
        hfhub.checkpoint_of(f"local-dir:{tmp_path}")
    assert field in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("ref", ["hf-hub:no-slash", "hf-hub:a/b/c", "hf-hub:/name@main", "just-a-name"])
def test_a_reference_that_is_not_org_slash_name(ref):
    with pytest.raises(WeightsError, match="is not a Hugging Face Hub reference; write hf-hub:ORG/NAME"):
        hfhub.checkpoint_of(ref)
