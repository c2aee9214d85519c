"""One parser of Hugging Face Hub repository ids (``hfhub.repo_id``): ``push_to_hub``'s ``repo_id`` (its
annotation) and ``hf-hub:ORG/NAME[@REV]`` references; and one refusal of a Hub-layout checkpoint without
a weights file, local folder or Hub repository alike."""

from __future__ import annotations

import pytest

import cnnzoo
from cnnzoo.errors import InvalidArgumentError, OfflineError, WeightsError
from cnnzoo.weights import hfhub, hubformat


@pytest.mark.parametrize("repo_id", ["hf-hub:someone/net", "someone/net@main", "some one/net", ""])
def test_push_to_hub_refuses_a_reference_where_a_repository_id_belongs(monkeypatch, repo_id):
    monkeypatch.setattr(hubformat, "hub_library", lambda why: pytest.fail("the Hub must not be reached"))
    with pytest.raises(InvalidArgumentError, match=r"push_to_hub|repo_id .* write ORG/NAME"):
        cnnzoo.push_to_hub(cnnzoo.create_model("lenet5"), repo_id)


@pytest.mark.parametrize(
    ("text", "prefix", "expected"),
    [
        ("hf-hub:timm/resnetv2_50.a1h_in1k@v2", hfhub.PREFIX, "timm/resnetv2_50.a1h_in1k"),
        ("a-b/c_d.e", "", "a-b/c_d.e"),
    ],
)
def test_the_parser_gives_org_slash_name(text, prefix, expected):
    assert hfhub.repo_id(text, prefix) == expected


def test_a_checkpoint_without_weights_names_the_files_looked_for(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text('{"architecture": "cnnzoo/lenet5"}')
    with pytest.raises(WeightsError, match=r"no weights file \(model\.safetensors, pytorch_model\.bin\)") as caught:
        hfhub.checkpoint_of(f"local-dir:{tmp_path}")
    assert type(caught.value) is WeightsError and str(tmp_path) in str(caught.value)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytest.importorskip("huggingface_hub")
    with pytest.raises(OfflineError, match=r"no weights file .* of hf-hub:someone/absent in the Hugging Face cache"):
        hfhub.checkpoint_of("hf-hub:someone/absent@v1")
