"""timm's Hugging Face Hub layout, written: ``config.json`` + ``model.safetensors`` + a ``README.md`` card.

The layout timm's ``save_for_hf`` writes and timm (``local-dir:DIR``, ``hf-hub:ORG/NAME``),
transformers' ``TimmWrapper`` and KerasHub read: ``config.json`` holds ``architecture``,
``num_classes``, ``num_features``, ``global_pool``, ``model_args``, ``label_names`` and the
``pretrained_cfg`` (input size, mean/std, crop); the weights are ``model.safetensors``; the
card's front matter names the library. Where timm has the architecture with cnnzoo's
module names (the ResNets, ResNeXts, Wide ResNets and DenseNets of
:data:`~cnnzoo.weights.hfhub.TIMM_ARCHITECTURES`, built as registered), the folder is written
under timm's name and ``timm.create_model("local-dir:DIR", pretrained=True)`` loads it as is;
other models are written as ``cnnzoo/<name>`` with ``library_name: cnnzoo``. cnnzoo reads
either back (``create_model("local-dir:DIR")``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import nn

from ..atomic import atomic_write
from ..errors import InvalidArgumentError
from ..models.arguments import checked
from ..models.registry import get_model_entry, is_model
from .files import safetensors_torch
from .hfhub import CNNZOO_PREFIX, TIMM_ARCHITECTURES, check_repo_id, hub_library

__all__ = ["save_pretrained", "push_to_hub", "timm_architecture", "hub_config"]

#: the pretrained_cfg entries written (timm's PretrainedCfg fields cnnzoo has, JSON values)
_CFG_KEYS = (
    "tag",
    "input_size",
    "min_input_size",
    "fixed_input_size",
    "interpolation",
    "crop_pct",
    "mean",
    "std",
    "num_classes",
    "pool_size",
    "first_conv",
    "classifier",
    "license",
    "notes",
)
#: arguments that do not change what a loaded network computes: the classes and channels (written
#: as model_args), the training-only drop rates and the initialisation (overwritten by the weights)
_TIMM_REBUILDS = frozenset({"num_classes", "in_chans", "drop_rate", "drop_path_rate", "zero_init_residual"})
#: left out of model_args, as timm's get_model_args leaves them: they configure training, not the network
_TRAINING_ONLY = ("drop_rate", "drop_path_rate")
#: cnnzoo name -> timm's name of the same network with the same keys
_TO_TIMM = {ours: theirs for theirs, ours in TIMM_ARCHITECTURES.items() if ours == theirs}


def timm_architecture(model: nn.Module) -> str | None:
    """timm's name of ``model``'s architecture where timm has it with the same state-dict keys and shapes.

    Only a network as registered (with its classes and input channels) qualifies: its keys and
    shapes are compared with a default build of the same name on the meta device.
    """
    name = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    if name not in _TO_TIMM or not is_model(name):
        return None
    with torch.device("meta"):
        reference = get_model_entry(name).constructor(num_classes=model.num_classes, in_chans=model.in_chans)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    # an argument that keeps the shapes can still change the function (output_stride, stem_pool_ceil):
    # timm's constructor of that name would not rebuild it
    built_otherwise = set(getattr(model, "_model_args", {})) - _TIMM_REBUILDS
    return _TO_TIMM[name] if ours == theirs and not built_otherwise else None


def _json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def hub_config(model: nn.Module) -> dict[str, Any]:
    """The ``config.json`` of ``model`` in timm's layout."""
    cfg = getattr(model, "pretrained_cfg", None)
    if not isinstance(cfg, dict) or not is_model(str(cfg.get("architecture"))):
        raise InvalidArgumentError("save_pretrained writes a registered cnnzoo model (built by create_model)")
    # not timm's network: cnnzoo's name, prefixed so that timm never builds its own namesake for it
    arch = timm_architecture(model) or CNNZOO_PREFIX + cfg["architecture"]
    pcfg = {k: _json_value(cfg[k]) for k in _CFG_KEYS if cfg.get(k) is not None}
    config: dict[str, Any] = {
        "architecture": arch,
        "num_classes": model.num_classes,
        "num_features": int(getattr(model, "num_features", 0)),
        "global_pool": str(getattr(model, "global_pool", "avg")),
        "model_args": _model_args(model, timm_layout=not arch.startswith(CNNZOO_PREFIX)),
        "pretrained_cfg": pcfg,
    }
    labels = cfg.get("label_names")
    if isinstance(labels, (list, tuple)) and len(labels) == model.num_classes:
        config["label_names"] = list(labels)
    return config


def _model_args(model: nn.Module, timm_layout: bool) -> dict[str, Any]:
    """The constructor arguments that rebuild ``model`` (timm's ``model_args``).

    cnnzoo's layout: its classes and channels as they are now and every other argument it was built
    with but the drop rates. timm's layout: what timm's own ``save_for_hf`` folders hold, only what
    differs from timm's defaults (the top-level ``num_classes`` gives the classes; transformers'
    ``TimmWrapper`` passes ``num_classes`` itself and fails on a second one).
    """
    if timm_layout:  # timm's constructor takes only timm's arguments; its name promises the rest
        args: dict[str, Any] = {} if model.in_chans == 3 else {"in_chans": model.in_chans}
        pool = getattr(model, "global_pool", "avg")
        if pool != "avg":  # timm rebuilds from model_args (its top-level global_pool is only a record)
            args["global_pool"] = pool
        return args
    recorded = getattr(model, "_model_args", {})
    args = {k: _json_value(v) for k, v in recorded.items() if k not in _TRAINING_ONLY}
    args.update(num_classes=model.num_classes, in_chans=model.in_chans)
    bad = sorted(k for k, v in args.items() if not _is_json(v))
    if bad:
        raise InvalidArgumentError(
            f"save_pretrained records the constructor arguments in config.json; {', '.join(bad)} "
            "are not JSON values (a layer class or function): build the model with JSON arguments to save it"
        )
    return args


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _card(config: dict[str, Any], library: str) -> str:
    pcfg = config["pretrained_cfg"]
    lines = [
        "---",
        "tags:",
        "- image-classification",
        f"- {library}",
        f"library_name: {library}",
        "---",
        "",
        f"# {config['architecture']}",
        "",
        f"An image classifier written by cnnzoo ({config['num_classes']} classes).",
        "",
        "## Preprocessing",
        "",
        f"- input size: {pcfg.get('input_size')}",
        f"- resize and centre crop: crop_pct {pcfg.get('crop_pct')}, {pcfg.get('interpolation')} interpolation",
        f"- mean {pcfg.get('mean')}, std {pcfg.get('std')}",
        "",
        "## Use",
        "",
        "```python",
    ]
    if library == "timm":
        lines.append("import timm\nmodel = timm.create_model('local-dir:THIS_FOLDER', pretrained=True)")
    lines += ["import cnnzoo\nmodel = cnnzoo.create_model('local-dir:THIS_FOLDER')", "```", ""]
    return "\n".join(lines)


def save_pretrained(model: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``directory`` in timm's Hub layout; returns the folder.

    ``config.json`` (architecture, classes, features, pooling, label names, the
    ``pretrained_cfg``), ``model.safetensors`` and a ``README.md`` model card, each written
    atomically. Load it with ``cnnzoo.create_model("local-dir:DIR")``, with
    ``timm.create_model("local-dir:DIR", pretrained=True)`` where the card says
    ``library_name: timm``, or upload the folder (``huggingface_hub.upload_folder``).
    """
    save = safetensors_torch("save_pretrained (it writes model.safetensors)").save
    config = hub_config(model)
    library = "cnnzoo" if config["architecture"].startswith(CNNZOO_PREFIX) else "timm"
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    # contiguous copies: safetensors refuses views and tensors that share storage
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.safetensors", save(state, metadata={"format": "pt"}))
    atomic_write(folder / "config.json", json.dumps(config, indent=2) + "\n")
    atomic_write(folder / "README.md", _card(config, library))
    return folder


@checked
def push_to_hub(
    model: nn.Module,
    repo_id: Annotated[str, check_repo_id],
    *,
    revision: str | None = None,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload a cnnzoo model",
) -> str:
    """Upload ``model`` in timm's Hub layout to the Hugging Face Hub repository ``repo_id`` (ORG/NAME).

    The folder :func:`save_pretrained` writes, uploaded in one commit with ``huggingface_hub``
    (the repository is created if it does not exist; ``revision`` names a branch). Returns the
    commit's URL. Read it back with ``cnnzoo.create_model("hf-hub:ORG/NAME@REVISION")`` or, where the
    card says ``library_name: timm``, ``timm.create_model("hf-hub:ORG/NAME", pretrained=True)``.
    """
    api = hub_library("push_to_hub").HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="cnnzoo-hub-") as folder:
        save_pretrained(model, folder)  # before anything is created on the Hub: a model that cannot be saved is refused
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision, commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
