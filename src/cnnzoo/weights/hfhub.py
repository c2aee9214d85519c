"""The Hugging Face Hub: timm's weights where a timm user already has them.

timm publishes its weights on the Hub, and ``huggingface_hub`` keeps what it downloads in
its own cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``,
laid out as ``models--ORG--NAME/{blobs,refs,snapshots}``). Where that package is installed,
the catalogue's Hub files are taken from that cache and downloaded into it, so one file
serves timm and cnnzoo; offline (``CNNZOO_OFFLINE`` or ``HF_HUB_OFFLINE``) only the cache is
read. cnnzoo checks the file's SHA-256 as it checks any other (:mod:`~cnnzoo.weights.cache`).

``hf-hub:ORG/NAME`` names a timm-layout checkpoint on the Hub (timm's own syntax), with its
``config.json`` (timm's ``pretrained_cfg``: classes, input size, mean/std, crop): usable as
``create_model(name, pretrained="hf-hub:...")`` or, for the timm architectures cnnzoo has,
as the model name itself.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

from ..errors import CnnzooError, InvalidArgumentError, OfflineError, WeightsDownloadError, WeightsError, shown
from ..limits import LIMITS, check_input_size, conform, nesting
from ..reading import MAX_TEXT_BYTES, read_bytes
from .optional import optional_module

__all__ = [
    "PREFIX",
    "LOCAL_PREFIX",
    "available",
    "local_checkpoint",
    "parse_revision",
    "repo_id",
    "check_repo_id",
    "CNNZOO_PREFIX",
    "hub_cache_dir",
    "hub_global_pool",
    "offline",
    "hub_file",
    "hub_library",
    "parse_ref",
    "hub_checkpoint",
    "hub_architecture",
    "checkpoint_of",
    "TIMM_ARCHITECTURES",
]

PREFIX = "hf-hub:"
#: timm's name of a folder in the Hub layout (config.json + weights), e.g. one save_pretrained wrote
LOCAL_PREFIX = "local-dir:"
#: a config.json architecture that is cnnzoo's own network (save_pretrained), not timm's
CNNZOO_PREFIX = "cnnzoo/"
#: the files a timm repository may hold its weights in, the preferred one first
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")

#: timm's architecture names (config.json "architecture") -> the cnnzoo model with that state-dict
#: layout: the catalogue's timm files (through their key maps) and timm's ResNets/DenseNets, whose
#: module names are torchvision's and so ours
TIMM_ARCHITECTURES: dict[str, str] = {
    **{f"resnetv2_{d}": f"resnet{d}v2" for d in (18, 34, 50, 101, 152)},
    **{f"legacy_seresnet{d}": f"se_resnet{d}" for d in (18, 34, 50, 101, 152)},
    "legacy_seresnext50_32x4d": "se_resnext50_32x4d",
    "legacy_seresnext101_32x4d": "se_resnext101_32x4d",
    "legacy_senet154": "senet154",
    "mobilenetv1_100": "mobilenet_v1",
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    "resnext50_32x4d": "resnext50_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "wide_resnet50_2": "wide_resnet50_2",
    "wide_resnet101_2": "wide_resnet101_2",
    **{f"densenet{d}": f"densenet{d}" for d in (121, 161, 169, 201)},
}


#: the Hub cache chosen for one call (:func:`cnnzoo.weights.cache.using_cache_dir`), over the environment's
HUB_CACHE_OVERRIDE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("cnnzoo_hub_cache", default=None)


def available() -> bool:
    """Whether ``huggingface_hub`` is installed (it comes with timm)."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        return False
    return True


def hub_library(why: str) -> Any:
    """The ``huggingface_hub`` module (a :class:`MissingDependencyError` saying ``why`` it is needed where it is
    not installed)."""
    return optional_module("huggingface_hub", why, "huggingface_hub (it comes with timm)")


def hub_cache_dir() -> Path:
    """The Hub cache as ``huggingface_hub`` finds it, read from the environment now (not at import)."""
    override = HUB_CACHE_OVERRIDE.get()
    if override is not None:
        return override
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to 1, true, yes or on (any case): the one reading
    of cnnzoo's and the Hub's switches."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def offline() -> bool:
    """cnnzoo's offline switch or the Hub's own (``HF_HUB_OFFLINE``)."""
    return env_flag("CNNZOO_OFFLINE") or env_flag("HF_HUB_OFFLINE")


def hub_file(repo_id: str, filename: str, *, download: bool, revision: str | None = None) -> Path | None:
    """``filename`` of ``repo_id`` (at ``revision``: a branch, tag or commit; None: ``main``) from the Hub
    cache, or downloaded into it when ``download``.

    None when it is neither cached nor to be downloaded (offline, or absent on the Hub).
    """
    huggingface_hub = hub_library(f"{PREFIX}{repo_id}")
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    cached = huggingface_hub.try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache_dir(), revision=revision)
    if isinstance(cached, str) and os.path.isfile(cached):
        return Path(cached)
    if not download:
        return None
    try:
        return Path(
            huggingface_hub.hf_hub_download(
                repo_id, filename, cache_dir=hub_cache_dir(), revision=revision, library_name="cnnzoo"
            )
        )
    except Exception as e:  # noqa: BLE001 - huggingface_hub's HTTP errors have no common public base
        # not on the Hub: None; LocalEntryNotFoundError, a subclass, says that the Hub could not be asked
        if isinstance(e, EntryNotFoundError) and not isinstance(e, LocalEntryNotFoundError):
            return None
        raise _download_error(e, repo_id, filename) from None


def _download_error(e: Exception, repo_id: str, filename: str) -> Exception:
    """What a failed download from the Hub means for the user, from the exception's type."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    if isinstance(e, LocalEntryNotFoundError):  # no connection: as cnnzoo's own downloads say it
        return OfflineError(
            f"weights {PREFIX}{repo_id} are not in the Hugging Face cache "
            f"{hub_cache_dir()} and the Hub cannot be reached ({e})"
        )
    return WeightsDownloadError(f"download of {filename} from {PREFIX}{repo_id} failed: {str(e).splitlines()[0]}")


def parse_ref(text: str) -> str | None:
    """``"hf-hub:timm/resnetv2_50.a1h_in1k"`` -> ``"timm/resnetv2_50.a1h_in1k"``; others -> None."""
    return _repo(text) if isinstance(text, str) and text.startswith(PREFIX) else None


def _repo(text: str) -> str:
    # the ORG/NAME of hf-hub:ORG/NAME[@REV] (a WeightsError for anything else)
    return repo_id(text, PREFIX)


#: a Hub repository id as huggingface_hub accepts one: ORG/NAME of letters, digits, "-", "_" and "."
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")


def repo_id(text: Any, prefix: str = "", error: type[CnnzooError] = WeightsError, name: str = "") -> str:
    """The ``ORG/NAME`` of ``text``: the one parser of Hub repository ids, for ``prefix`` ``"hf-hub:"`` of a
    reference ``hf-hub:ORG/NAME[@REV]``, else of a bare ``ORG/NAME``; anything else is an ``error`` (``name``
    says whose value it is)."""
    repo = text.removeprefix(prefix).partition("@")[0] if prefix and isinstance(text, str) else text
    if not (isinstance(repo, str) and _REPO_ID.fullmatch(repo)):
        raise error(
            f"{name}{shown(text)} is not a Hugging Face Hub reference; write {prefix}ORG/NAME, "
            f"e.g. {prefix}timm/resnetv2_50.a1h_in1k"
        )
    return repo


def check_repo_id(name: str, value: Any) -> None:
    """The check of an ``ORG/NAME`` argument (``Annotated[str, check_repo_id]``, as
    :func:`cnnzoo.models.arguments.checked` calls it): :func:`repo_id`, an :class:`InvalidArgumentError`."""
    repo_id(value, error=InvalidArgumentError, name=f"{name} ")


def parse_revision(text: str) -> str | None:
    """``"hf-hub:ORG/NAME@REV"`` -> ``"REV"`` (timm's syntax: the revision pins the files); None without one."""
    revision = text.partition("@")[2] if isinstance(text, str) and text.startswith(PREFIX) else ""
    return revision or None


#: the config.json fields cnnzoo reads (timm's ``save_for_hf`` writes them), each with its type, checked by the one
#: type check (:func:`cnnzoo.limits.conform`: a bool is no number), and that type in words; other fields are
#: timm's business and left alone
_CONFIG_FIELDS: dict[str, tuple[Any, str]] = {
    "architecture": (str, "a JSON string"),
    "num_classes": (
        Annotated[int, lambda n: 0 <= n <= LIMITS["num_classes"]],
        f"a JSON integer from 0 to {LIMITS['num_classes']:,}",
    ),
    "num_features": (int, "a JSON integer"),
    "global_pool": (str, "a JSON string"),
    "model_args": (dict[str, Any], "a JSON object"),
    "label_names": (list[str], "a JSON array of strings"),
    "pretrained_cfg": (dict[str, Any], "a JSON object"),
}
_PRETRAINED_CFG_FIELDS: dict[str, tuple[Any, str]] = {
    "input_size": (Annotated[list[Any], lambda size: len(size) == 3], "[channels, height, width]"),
    "crop_pct": (Annotated[float, lambda crop: 0 < crop <= 1], "a JSON number in (0, 1]"),
    "mean": (list[Annotated[float, math.isfinite]], "a JSON array of finite numbers"),
    "std": (list[Annotated[float, lambda x: math.isfinite(x) and x != 0]], "a JSON array of finite, non-zero numbers"),
    "interpolation": (str, "a JSON string"),
    "tag": (str, "a JSON string"),
    "license": (str, "a JSON string"),
}
#: a checkpoint in the Hub layout: its weights file and its config.json (checked; {} without one)
CheckpointFiles = tuple[Path, dict[str, Any]]
#: how deep a config.json may nest (timm's: pretrained_cfg -> input_size, 2)
_CONFIG_DEPTH = 8


def _wrong_field(fields: dict[str, Any], table: dict[str, tuple[Any, str]], prefix: str = "") -> str | None:
    for name, (hint, what) in table.items():
        value = fields.get(name)
        if value is not None and not conform(value, hint)[0]:
            return f"{prefix}{name} is {shown(value)}, not {what}"
    return None


def _config_problem(config: Any) -> str | None:
    """What is wrong with the fields of a config.json that cnnzoo reads (None: nothing)."""
    if not isinstance(config, dict):
        return f"it holds a JSON {type(config).__name__}, not an object"
    if nesting(config) > _CONFIG_DEPTH:
        return f"it nests deeper than {_CONFIG_DEPTH} levels"
    pcfg = config.get("pretrained_cfg") or {}
    problem = _wrong_field(config, _CONFIG_FIELDS) or _wrong_field(pcfg, _PRETRAINED_CFG_FIELDS, "pretrained_cfg.")
    if problem is not None:
        return problem
    try:  # the bounds every command has (whole numbers, channels and sides within LIMITS)
        check_input_size(pcfg.get("input_size") or (3, 224, 224), WeightsError)
    except WeightsError as e:
        return f"pretrained_cfg.input_size: {e}"
    return None


def _read_config(path: Path | None, ref: str) -> dict[str, Any]:
    """The config.json at ``path`` ({} without one), its fields cnnzoo reads checked here, once: a
    :class:`WeightsError` for a file that is not JSON, nests absurdly deep or has a field of the wrong type."""
    if path is None:
        return {}
    try:
        loaded = json.loads(read_bytes(path, "Hub config", limit=MAX_TEXT_BYTES, error=WeightsError))
        problem = _config_problem(loaded)
    except ValueError as e:
        problem = f"it is not readable JSON: {e}"
    except RecursionError:  # the JSON parser recurses once per level: a few thousand brackets exhaust the stack
        problem = f"it nests deeper than {_CONFIG_DEPTH} levels"
    if problem is not None:
        raise WeightsError(f"the config.json of {ref} is not usable: {problem}")
    return cast(dict[str, Any], loaded)


def _checkpoint(
    ref: str, find: Callable[[str], Path | None], where: str, missing: type[WeightsError]
) -> CheckpointFiles:
    """(weights file, config.json) of a checkpoint in the Hub layout, each file found by ``find`` (None: not
    there); without a weights file, ``missing`` saying ``where`` it was looked for."""
    path = next((p for name in WEIGHT_FILES if (p := find(name))), None)
    if path is None:
        raise missing(f"no weights file ({', '.join(WEIGHT_FILES)}) of {ref} {where}")
    return path, _read_config(find("config.json"), ref)


def local_checkpoint(ref: str) -> CheckpointFiles:
    """(weights file, config.json) of a ``local-dir:DIR`` folder in the Hub layout."""
    folder = Path(ref[len(LOCAL_PREFIX) :]).expanduser()
    return _checkpoint(
        ref,
        lambda name: folder / name if (folder / name).is_file() else None,
        f"(no folder {folder}, or none in it)",
        WeightsError,
    )


def hub_checkpoint(repo_id: str, revision: str | None = None) -> CheckpointFiles:
    """(weights file, the repository's config.json) of a timm checkpoint on the Hub, at ``revision``."""
    download = not offline()  # the first hub_file says if huggingface_hub is missing
    where = "in the Hugging Face cache (offline)" if not download else "on the Hub"
    return _checkpoint(
        f"{PREFIX}{repo_id}",
        lambda name: hub_file(repo_id, name, download=download, revision=revision),
        f"{where}; cache: {hub_cache_dir()}",
        OfflineError,
    )


def checkpoint_of(ref: str) -> CheckpointFiles:
    """(weights file, config.json) of ``hf-hub:ORG/NAME[@REV]`` or ``local-dir:DIR``."""
    if ref.startswith(LOCAL_PREFIX):
        return local_checkpoint(ref)
    return hub_checkpoint(_repo(ref), parse_revision(ref))


def hub_architecture(ref: str) -> str:
    """The cnnzoo model an ``hf-hub:ORG/NAME[@REV]`` or ``local-dir:DIR`` checkpoint is for, from its config.json
    (timm's architecture names, or a cnnzoo name that cnnzoo's save_pretrained wrote)."""
    from ..models.registry import is_model

    arch = checkpoint_of(ref)[1].get("architecture")
    if arch in TIMM_ARCHITECTURES:
        return TIMM_ARCHITECTURES[arch]
    if arch is not None and arch.startswith(CNNZOO_PREFIX) and is_model(arch[len(CNNZOO_PREFIX) :]):
        return arch[len(CNNZOO_PREFIX) :]
    known = ", ".join(sorted(TIMM_ARCHITECTURES))
    raise WeightsError(
        f"{ref} is a checkpoint of timm's {arch!r}, which has no cnnzoo counterpart with "
        f"its layout (these have: {known}); give the model name and "
        f"pretrained='{ref}' to try one"
    )


def hub_global_pool(ref: str) -> str | None:
    """The ``global_pool`` an ``hf-hub:``/``local-dir:`` checkpoint's config.json records (None: none recorded)."""
    pool = checkpoint_of(ref)[1].get("global_pool")
    return pool if isinstance(pool, str) else None
