"""push_to_hub uploads save_pretrained's folder in one commit (huggingface_hub's API, here a local stand-in:
no network), and what it uploaded reads back; transformers' TimmWrapper reads a timm-named folder."""

import shutil
from types import SimpleNamespace

import pytest
import torch

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.layers import SqueezeExcitation

huggingface_hub = pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors.torch")


class LocalHub:
    """HfApi's calls that push_to_hub makes, kept in a folder per repository and branch."""

    def __init__(self, root, token=None):
        self.root, self.token, self.calls = root, token, []

    def create_repo(self, repo_id, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def create_branch(self, repo_id, branch, exist_ok=False):
        self.calls.append(("create_branch", repo_id, branch, exist_ok))

    def upload_folder(self, repo_id, folder_path, revision=None, commit_message=None):
        self.calls.append(("upload_folder", repo_id, revision, commit_message))
        shutil.copytree(folder_path, self.root / repo_id / (revision or "main"), dirs_exist_ok=True)
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/0")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    made = []

    def api(token=None):
        made.append(LocalHub(tmp_path / "hub", token))
        return made[-1]

    monkeypatch.setattr(huggingface_hub, "HfApi", api)
    return made


def _random(model):
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def test_push_uploads_the_folder_that_reads_back(hub, tmp_path):
    model = _random(cnnzoo.create_model("resnet20", num_classes=10, in_chans=1))
    url = cnnzoo.push_to_hub(model, "someone/resnet20-digits", revision="v1", private=True, token="t")
    (api,) = hub
    assert url == "https://huggingface.co/someone/resnet20-digits/commit/0" and api.token == "t"
    assert [c[0] for c in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[0] == ("create_repo", "someone/resnet20-digits", True, True)
    folder = tmp_path / "hub" / "someone/resnet20-digits" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    back = cnnzoo.create_model(f"local-dir:{folder}").eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), rtol=0, atol=0)


def test_a_model_that_cannot_be_saved_creates_nothing(hub):
    model = cnnzoo.create_model("resnet18", num_classes=3, attn_layer=SqueezeExcitation)  # a class: no JSON
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        cnnzoo.push_to_hub(model, "someone/se")
    assert all(not api.calls for api in hub)


@pytest.mark.parametrize("repo_id", ["no-org", "a/b/c", "/name", 5])
def test_a_repo_id_that_is_not_org_slash_name_is_refused(hub, repo_id):
    with pytest.raises(InvalidArgumentError, match="ORG/NAME"):
        cnnzoo.push_to_hub(cnnzoo.create_model("lenet5"), repo_id)


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{}, {"in_chans": 1, "global_pool": "max"}])
def test_transformers_timm_wrapper_reads_a_timm_named_folder(kwargs, tmp_path):
    transformers = pytest.importorskip("transformers")
    model = _random(cnnzoo.create_model("resnet18", num_classes=5, **kwargs))
    cnnzoo.save_pretrained(model, tmp_path)
    wrapper = transformers.AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(wrapper).__name__ == "TimmWrapperForImageClassification"
    x = torch.randn(2, kwargs.get("in_chans", 3), 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(wrapper(pixel_values=x).logits, model(x), rtol=0, atol=0)
