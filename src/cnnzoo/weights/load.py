"""Pretrained weights into a model: find them (catalogue tag or file), convert their keys, adapt, load.

``create_model(name, pretrained=...)`` (:mod:`cnnzoo.factory`) calls :func:`resolve` (which
file, how many classes and input channels it has, its keys in cnnzoo's names) before building
the model, then :func:`load_pretrained`, whose record of the weights it lays over the model's
own ``pretrained_cfg`` (:func:`cnnzoo.models.registry.pretrained_cfg`). The catalogue is data
(:mod:`cnnzoo.weights.catalogue`), the files and their verification are
:mod:`cnnzoo.weights.cache` and :mod:`cnnzoo.weights.files`, the key maps of other layouts are
:mod:`cnnzoo.weights.keymaps`. A checkpoint's layout is the
catalogue's where the file is known (by tag, or recognised by its SHA-256), otherwise it is
detected from the keys.

Adaptation follows timm: a different ``num_classes`` re-initialises the classifier and
loads everything else; a different ``in_chans`` adapts the first convolution (summing
over the input channels for one channel; otherwise repeating them cyclically and scaling
by ``src/in_chans``, timm's ``adapt_input_conv``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ..errors import IncompatibleWeightsError, InvalidArgumentError, WeightsError, shown
from ..models.arguments import checked as checked_arguments
from ..models.base import classifier_names, first_conv_name
from ..models.registry import get_model_entry, is_model, list_models
from ..preprocessing import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD, eval_preprocessing
from . import cache, hfhub
from .catalogue import CATALOGUE, WeightsEntry, entry_for, list_tags
from .checkpoint import WeightsCheckpoint, checked
from .files import open_weights, parse, read_file, read_weights_file
from .keymaps import KEY_MAPS

__all__ = [
    "ResolvedWeights",
    "IDENTITY_LAYOUTS",
    "resolve",
    "load_pretrained",
    "load_checkpoint",
    "read_state_dict",
    "convert_state_dict",
    "detect_layout",
    "adapt_input_conv",
    "label_names",
]

log = logging.getLogger("cnnzoo")

StateDict = dict[str, torch.Tensor]
#: layouts whose keys are already cnnzoo's (torchvision's names are ours where it has the model)
IDENTITY_LAYOUTS = ("torchvision", "cnnzoo")


@dataclass
class ResolvedWeights:
    """Weights ready to load: the state dict in cnnzoo names and what it was made for."""

    state_dict: StateDict = dataclasses.field(repr=False)
    path: Path
    layout: str
    entry: WeightsEntry | None  #: the catalogue entry, also for a local file it recognised
    num_classes: int | None  #: classes of the file's classifier (None: it has none)
    in_chans: int | None  #: input channels of the file's first convolution
    #: what a cnnzoo training checkpoint records of its run (classes, preprocessing, config)
    run: dict[str, Any] | None = None

    def model_kwargs(self, in_chans: int | None) -> dict[str, Any]:
        """Constructor arguments the weights were trained with, for a network of ``in_chans`` input channels.

        GoogLeNet's ``transform_input=True`` for torchvision's file, which expects inputs
        re-normalised inside the network; none where the first convolution is adapted to
        other channels, whose inputs they do not describe. ``create_model`` passes them to the
        constructor (unless the call gives them), as torchvision's builders do.
        """
        entry = self.entry
        if entry is None or not entry.model_attrs:
            return {}
        if in_chans is not None and in_chans != entry.input_size[0]:
            log.info("%s: %s not applied to a %d-channel input", entry.tag, entry.model_attrs, in_chans)
            return {}
        return dict(entry.model_attrs)


@functools.cache
def _label_file(name: str) -> tuple[str, ...]:
    return tuple(cache.asset_path(name).read_text(encoding="utf-8").splitlines())


def label_names(entry: WeightsEntry) -> list[str]:
    """Class names of a catalogue entry's outputs, in output order ([] where none are known)."""
    if isinstance(entry.labels, tuple):
        return list(entry.labels)
    if entry.labels == "digits":
        return [str(i) for i in range(10)]
    if entry.labels == "imagenet":
        return list(_label_file("imagenet_classes.txt"))
    return []


# ---------------------------------------------------------------- reading and converting
_DENSENET_LEGACY_KEY = re.compile(r"denselayer\d+\.(?:norm|relu|conv)\.[12]\.")


def detect_layout(state_dict: Mapping[str, Any]) -> str:
    """The layout of a state dict, from its keys: a :data:`cnnzoo.weights.keymaps.KEY_MAPS` name or
    ``"torchvision"`` (whose names are cnnzoo's)."""
    keys = list(state_dict)
    if any(k.startswith("layer0.") for k in keys) and any(k.startswith("last_linear.") for k in keys):
        return "timm_legacy_senet"  # Cadene's SENets as timm's legacy_* models
    if "stem.conv.weight" in state_dict or any(k.startswith("stages.0.blocks.") for k in keys):
        return "timm_resnetv2"
    if "conv_stem.weight" in state_dict and any(k.startswith("blocks.") for k in keys):
        return "timm_mobilenetv1"
    if any(_DENSENET_LEGACY_KEY.search(k) for k in keys):
        return "torchvision_densenet_legacy"
    return "torchvision"


#: what a cnnzoo checkpoint records of its run beside the weights
_RUN_KEYS = tuple(f.name for f in dataclasses.fields(WeightsCheckpoint) if f.name not in ("model", "model_name"))


def _unwrap(obj: Any, path: Path) -> tuple[Mapping[str, Any], str | None, dict[str, Any] | None]:
    """The state dict inside a checkpoint, the model name a cnnzoo checkpoint records and
    what it records of its run."""
    if isinstance(obj, Mapping):
        model_name = obj["model_name"] if isinstance(obj.get("model_name"), str) else None
        run = {k: obj[k] for k in _RUN_KEYS if k in obj} if model_name is not None else None
        for key in ("model", "state_dict", "model_state_dict"):  # cnnzoo / timm / common wrappers
            if isinstance(obj.get(key), Mapping):
                return obj[key], model_name, run
        return obj, model_name, run
    raise WeightsError(f"'{path}' holds a {type(obj).__name__}, not a state dict")


def read_state_dict(path: str | os.PathLike[str], layout: str | None = None) -> tuple[StateDict, str, str | None]:
    """Read a weights file safely and convert it to cnnzoo names.

    Accepts plain state dicts, cnnzoo trainer checkpoints (``{"model": ..., "model_name":
    ...}``), timm's ``state_dict`` wrapper and DDP's ``module.`` / ``torch.compile``'s
    ``_orig_mod.`` prefixes. Returns ``(state_dict, layout, model_name_or_None)``.
    """
    return convert_state_dict(read_weights_file(path), Path(path), layout)


def convert_state_dict(obj: Any, path: Path, layout: str | None = None) -> tuple[StateDict, str, str | None]:
    """A loaded weights file (see :func:`read_state_dict`) in cnnzoo names; ``path`` names it in messages."""
    state, layout, model_name, _ = _convert(obj, path, layout)
    return state, layout, model_name


def _convert(obj: Any, path: Path, layout: str | None) -> tuple[StateDict, str, str | None, dict[str, Any] | None]:
    # convert_state_dict, plus what a cnnzoo checkpoint records of its run
    raw, model_name, run = _unwrap(obj, path)
    state: StateDict = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise WeightsError(f"'{path}' is not a state dict: its key {shown(key)} is not a parameter name")
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided:  # no parameter of ours is sparse
            held = f"{value.layout} tensor" if isinstance(value, torch.Tensor) else type(value).__name__
            raise WeightsError(
                f"'{path}' is not a state dict of dense tensors: {shown(key)} holds a {held} "
                "(save parameter names mapped to dense tensors: tensor.to_dense() for a sparse one)"
            )
        for prefix in ("module.", "_orig_mod."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    if not state:
        raise WeightsError(f"'{path}' holds no tensors")
    layout = layout or detect_layout(state)
    if layout not in IDENTITY_LAYOUTS:
        if layout not in KEY_MAPS:
            raise WeightsError(f"no key map for the '{layout}' layout of '{path}' (cnnzoo.weights.keymaps)")
        state = KEY_MAPS[layout](state)
    return state, layout, model_name, run


def _identify(digest: str, model_name: str) -> WeightsEntry | None:
    """The catalogue entry of a local file, by its SHA-256 (or the file-name prefix)."""
    for entry in CATALOGUE.values():
        if entry.sha256 == digest or (
            entry.sha256 is None
            and entry.hash_prefix
            and digest.startswith(entry.hash_prefix)
            and entry.architecture == model_name
        ):
            return entry
    return None


#: what ``create_model`` passes to :func:`resolve`: a function giving the (first convolution,
#: classifiers) module names of the model it will build, read from a copy on the meta device
Probe = Callable[[], "tuple[str | None, tuple[str, ...]]"]


@checked_arguments
def resolve(
    model_name: str, tag: str | None, pretrained: Literal[True] | str | os.PathLike[str], probe: Probe | None = None
) -> ResolvedWeights:
    """Find and read the weights ``create_model`` asked for.

    ``pretrained`` is ``True`` (``tag`` or the default tag), a tag (``"tv2_in1k"`` or
    ``"resnet50.tv2_in1k"``) or a path to a ``.pth``/``.pt``/``.safetensors`` file.
    Catalogued files are downloaded (or taken from the cache) and verified first. For a
    file, ``probe`` names the model's first convolution and classifiers, so that the file's
    input channels and classes are read from it.
    """
    text = "" if pretrained is True else os.fspath(pretrained)
    named = None if pretrained is True else text.removeprefix(f"{model_name}.")  # the tag pretrained names, if one
    if tag is not None and named not in (None, tag):  # a tag names the weights, and pretrained other ones
        raise InvalidArgumentError(
            f"'{model_name}.{tag}' names catalogued weights and pretrained='{text}' others; give one"
        )
    if pretrained is True or tag is not None:
        return _from_entry(entry_for(model_name, tag))
    if hfhub.parse_ref(text) is not None or text.startswith(hfhub.LOCAL_PREFIX):
        return _from_hub(model_name, text, probe)
    if os.path.lexists(text):  # whatever is at a path is the file meant: the one reader says what is wrong with it
        return _from_file(model_name, Path(text), probe)
    if f"{model_name}.{named}" in CATALOGUE:
        return _from_entry(CATALOGUE[f"{model_name}.{named}"])
    tags = ", ".join(list_tags(model_name)) or "none catalogued"
    raise WeightsError(f"no weights file at '{text}', and it is not a weight tag of {model_name} (tags: {tags})")


def _from_entry(entry: WeightsEntry) -> ResolvedWeights:
    path = cache.locate(entry)
    # read whole, once: the bytes whose hash is trusted are the bytes that are loaded (a mapped
    # file rewritten in place after its check would load other bytes); a catalogued file is of a
    # known, published size
    data = read_file(path)
    cache.verify_digest(entry, path, hashlib.sha256(data).hexdigest())
    state, layout, _ = convert_state_dict(parse(data, path), path, entry.layout)
    return ResolvedWeights(state, path, layout, entry, entry.num_classes, entry.input_size[0])


def _from_hub(model_name: str, ref: str, probe: Probe | None) -> ResolvedWeights:
    """A checkpoint in timm's Hub layout (``hf-hub:ORG/NAME[@REV]`` on the Hub or in its cache, or
    ``local-dir:DIR``), with its config.json's preprocessing and class names."""
    path, config = hfhub.checkpoint_of(ref)
    repo = hfhub.parse_ref(ref)
    resolved = _from_file(model_name, path, probe)
    pcfg = config.get("pretrained_cfg") or {}  # the fields' types were checked where config.json was read
    num_classes = config.get("num_classes", resolved.num_classes)
    input_size = tuple(pcfg.get("input_size") or (resolved.in_chans or 3, 224, 224))
    crop_pct = pcfg.get("crop_pct") or DEFAULT_CROP_PCT
    entry = WeightsEntry(
        tag=ref,
        architecture=model_name,
        source="hf-hub" if repo else "local-dir",
        url=f"https://huggingface.co/{repo}" if repo else None,
        filename=path.name,
        sha256=None,
        hash_prefix=None,
        layout=resolved.layout,
        num_classes=num_classes if num_classes is not None else 1000,
        input_size=input_size,
        resize_size=int(input_size[-1] / crop_pct),
        crop_pct=crop_pct,
        mean=tuple(pcfg.get("mean") or IMAGENET_MEAN),
        std=tuple(pcfg.get("std") or IMAGENET_STD),
        interpolation=pcfg.get("interpolation") or "bilinear",
        labels="imagenet" if num_classes == 1000 else "",
        dataset=pcfg.get("tag") or "",
        license=pcfg.get("license") or "",
        hf_hub_id=repo,
        hf_filename=path.name,
        model_attrs=_hub_model_args(config, model_name, ref),
    )
    labels = config.get("label_names")
    if labels is not None and len(labels) == num_classes:
        entry = dataclasses.replace(entry, labels=tuple(labels))
    return dataclasses.replace(resolved, entry=entry)


def _hub_model_args(config: dict[str, Any], model_name: str, ref: str) -> dict[str, Any]:
    """The constructor arguments of a folder cnnzoo wrote (``cnnzoo/<name>``; timm's folders name timm's
    arguments, for timm's constructor), less the classes and channels, which the weights give."""
    from ..limits import model_arg_defaults

    if not str(config.get("architecture", "")).startswith(hfhub.CNNZOO_PREFIX):
        return {}
    args = config.get("model_args") or {}  # an object or null: hfhub._read_config checked its type
    accepted = model_arg_defaults(get_model_entry(model_name).constructor)
    unknown = sorted(str(k) for k in args if k not in accepted)
    if unknown:
        raise WeightsError(f"the config.json of {ref}: {model_name} takes no argument(s) {', '.join(unknown)}")
    return {k: v for k, v in args.items() if k not in ("num_classes", "in_chans")}


def _from_file(model_name: str, path: Path, probe: Probe | None) -> ResolvedWeights:
    with open_weights(path) as f:  # one open: what is identified by its hash is what is loaded
        entry = _identify(f.sha256(), model_name)
        obj = f.load()
    checked(obj, path)  # a cnnzoo run's checkpoint is checked as every reader of one checks it
    state, layout, ckpt_model, run = _convert(obj, path, entry.layout if entry else None)
    # the model the file says it holds: a published file's architecture, or the one a cnnzoo run recorded
    owner = entry.architecture if entry is not None else (ckpt_model or model_name).partition(".")[0]
    if owner != model_name:
        what = f"the published '{entry.tag}' file" if entry is not None else "a checkpoint"
        raise IncompatibleWeightsError(
            f"'{path}' is {what} of '{owner}', not '{model_name}': use create_model('{owner}', pretrained='{path}')"
        )
    if ckpt_model is not None:
        layout = "cnnzoo"
    first_conv, heads = probe() if probe is not None else (None, ())
    head = [v for k, v in state.items() if heads and k.startswith(heads[0] + ".") and v.ndim >= 1]
    weight = state.get(f"{first_conv}.weight")
    in_chans = int(weight.shape[1]) if weight is not None and weight.ndim == 4 else None
    return ResolvedWeights(state, path, layout, entry, int(head[0].shape[0]) if head else None, in_chans, run)


# ---------------------------------------------------------------- adaptation and loading
def adapt_input_conv(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A first-conv weight for ``in_chans`` inputs from one trained on ``weight.shape[1]``.

    One channel: the sum over the trained channels (a gray image through the summed filter
    gives what the colour filters gave for that gray repeated in every channel). More: the
    trained channels repeated cyclically, scaled by ``src / in_chans`` so the response to a
    constant input keeps its size (timm's ``adapt_input_conv``).
    """
    src = weight.shape[1]
    if in_chans == src:
        return weight
    dtype = weight.dtype
    w = weight.float()
    if in_chans == 1:
        w = w.sum(dim=1, keepdim=True)
    else:
        w = w.repeat(1, -(-in_chans // src), 1, 1)[:, :in_chans] * (src / in_chans)
    return w.to(dtype)


def _adapt_stats(values: tuple[float, ...], in_chans: int) -> tuple[float, ...]:
    # mean/std for the adapted input: the channel average for one channel, else cyclic
    if len(values) == in_chans:
        return tuple(values)
    if in_chans == 1:
        return (round(sum(values) / len(values), 6),)
    return tuple(values[i % len(values)] for i in range(in_chans))


def _list(keys: list[str], n: int = 6) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def _suggest_architecture(state: StateDict, name: str, num_classes: int | None) -> str | None:
    """A registered model whose state dict has exactly these keys and shapes (meta device).

    The models of the same family are tried first (a file of resnet18 given to resnet34),
    so that the others are built only when none of those fits.
    """
    shapes = {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    family = get_model_entry(name).family if is_model(name) else None
    candidates = sorted(list_models(), key=lambda n: get_model_entry(n).family != family)
    for other in candidates:
        if other != name and _meta_shapes(other, num_classes, get_model_entry(other).constructor) == shapes:
            return other
    return None


@functools.cache
def _meta_shapes(
    name: str, num_classes: int | None, constructor: Callable[..., Any]
) -> dict[str, tuple[int, ...]] | None:
    """The keys and shapes of model ``name``'s state dict, built once per process on the meta device
    (a suggestion may try every registered model; ``constructor`` keys the cache, so a name registered
    anew is built anew)."""
    info = get_model_entry(name)
    network = getattr(info.constructor, "__wrapped__", info.constructor)  # the keys only: no pretrained_cfg
    try:
        with torch.device("meta"):
            kwargs = {} if num_classes is None else {"num_classes": num_classes}
            model = network(**{**info.defaults(), **kwargs})
    except Exception:  # noqa: BLE001 - a constructor that needs other arguments is simply no candidate
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def load_pretrained(model: nn.Module, weights: ResolvedWeights) -> dict[str, Any]:
    """Load ``weights`` into ``model``, adapting its classifiers and its first convolution.

    The module names come from the model itself (its first ``Conv2d``; its classifiers, the
    main one first). Returns what the weights determine of the model's ``pretrained_cfg``
    (tag, preprocessing, class names, source), for
    :func:`~cnnzoo.models.registry.pretrained_cfg` to lay over the network's own entries. Any
    mismatch other than the classifiers and the first convolution's input channels is an
    :class:`IncompatibleWeightsError` naming the keys.
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = str(cfg.get("architecture") or getattr(model, "arch_name", type(model).__name__))
    state = dict(weights.state_dict)
    target = model.state_dict()
    in_chans = int(getattr(model, "in_chans", weights.in_chans or 3))
    first_conv, heads = first_conv_name(model), classifier_names(model)
    conv_key = f"{first_conv}.weight"
    if conv_key in state and conv_key in target and state[conv_key].shape[1] != target[conv_key].shape[1]:
        state[conv_key] = adapt_input_conv(state[conv_key], target[conv_key].shape[1])
        log.info(
            "%s: first convolution %s adapted from %d to %d input channels",
            name,
            first_conv,
            weights.in_chans,
            target[conv_key].shape[1],
        )
    model_classes = getattr(model, "num_classes", None)
    fresh: list[str] = []  # classifiers that keep the model's own initialisation
    if weights.num_classes is not None and model_classes != weights.num_classes:
        fresh = list(heads)
        for k in [k for k in state if k.startswith(tuple(h + "." for h in heads))]:
            del state[k]
        log.info(
            "%s: new %d-class classifier (%s initialised afresh); the weights' %d-class "
            "head was not loaded, everything else was",
            name,
            model_classes,
            ", ".join(fresh),
            weights.num_classes,
        )
    elif weights.num_classes is None and heads and any(k.startswith(heads[0] + ".") for k in target):
        fresh = list(heads)
        log.info("%s: the weights have no classifier; %s keeps its initialisation", name, heads[0])
    fresh_prefixes = tuple(p + "." for p in fresh)
    # keys of optional modules the model was built without (aux_logits=False sets aux1=None)
    skipped = [
        k
        for k in state
        if k not in target and hasattr(model, k.split(".")[0]) and getattr(model, k.split(".")[0]) is None
    ]
    unexpected = [k for k in state if k not in target and k not in skipped]
    _check_fits(state, target, unexpected, f"'{weights.path}'", name, fresh_prefixes, suggest_for=weights)
    for k in skipped:
        del state[k]
    model.load_state_dict(state, strict=False)
    if skipped:
        log.info(
            "%s: %d keys of modules the model was built without were not loaded (%s)",
            name,
            len(skipped),
            _list(skipped, 3),
        )
    record = _weights_record(model, name, weights, in_chans)
    record["load_report"] = _load_report(weights, len(state), len(target), fresh, model_classes)
    return record


def _load_report(weights: ResolvedWeights, loaded: int, total: int, fresh: list[str], classes: Any) -> str:
    """One line a run prints: how much of the file went in, and what became of its classifier."""
    source = weights.entry.tag if weights.entry is not None else str(weights.path)
    text = f"loaded {loaded:,} of the model's {total:,} tensors from {source}"
    if not fresh:
        return f"{text}; the file's classifier is kept ({classes} classes)"
    if weights.num_classes is None:
        verb = "keeps" if len(fresh) == 1 else "keep"
        return f"{text}; the file has no classifier: {', '.join(fresh)} {verb} the model's initialisation"
    return (
        f"{text}; classifier replaced: {', '.join(fresh)} initialised afresh for {classes} classes "
        f"(the file's {weights.num_classes}-class head was not loaded)"
    )


def load_checkpoint(model: nn.Module, weights: ResolvedWeights) -> None:
    """Load ``weights`` into ``model`` strictly: every key, every shape (timm's ``checkpoint_path``).

    What ``create_model(..., checkpoint_path=FILE)`` does after the model is built (and any
    pretrained weights loaded): the file is the model's own state, so nothing is adapted and
    any mismatch is an :class:`IncompatibleWeightsError`.
    """
    state = weights.state_dict
    target = model.state_dict()
    name = getattr(model, "arch_name", type(model).__name__)
    _check_fits(state, target, [k for k in state if k not in target], f"checkpoint '{weights.path}'", name)
    model.load_state_dict(state, strict=False)


def _check_fits(
    state: dict[str, Any],
    target: dict[str, Any],
    unexpected: list[str],
    source: str,
    name: str,
    fresh_prefixes: tuple[str, ...] = (),
    suggest_for: ResolvedWeights | None = None,
) -> None:
    """Refuse (an :class:`IncompatibleWeightsError`: "``source`` does not fit ``name``") a ``state`` that
    does not load into a model whose state is ``target``, naming the keys missing, the ``unexpected`` keys and
    the keys with other shapes. Keys under ``fresh_prefixes`` (a replaced head) and BatchNorm's
    ``num_batches_tracked`` (absent from files older than PyTorch 0.4.1) may be missing. With
    ``suggest_for`` (pretrained weights), a registered model the file fits is named."""
    missing = [
        k
        for k in target
        if k not in state and not k.startswith(fresh_prefixes) and not k.endswith("num_batches_tracked")
    ]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}"
        for k in state
        if k in target and state[k].shape != target[k].shape
    ]
    parts = [
        f"{len(v)} {kind}: {_list(v)}"
        for kind, v in (("missing", missing), ("unexpected", unexpected), ("with other shapes", mismatched))
        if v
    ]
    if parts:
        hint = "" if suggest_for is None else _fits_hint(suggest_for, name)
        raise IncompatibleWeightsError(f"{source} does not fit {name}: {'; '.join(parts)}{hint}")


def _fits_hint(weights: ResolvedWeights, name: str) -> str:
    # the registered model that pretrained weights which do not fit ``name`` do fit, else their layout
    other = _suggest_architecture(weights.state_dict, name, weights.num_classes)
    return (
        f"; the file fits '{other}': create_model('{other}', pretrained=...)"
        if other
        else f" (layout '{weights.layout}')"
    )


def _run_record(model: nn.Module, run: dict[str, Any], in_chans: int) -> dict[str, Any]:
    """The ``pretrained_cfg`` entries of a cnnzoo training checkpoint: the run's class names and
    its evaluation preprocessing (recorded, or for older checkpoints read from its config)."""
    out: dict[str, Any] = {"dataset": run.get("data") or (run.get("config") or {}).get("data")}
    classes = run.get("classes")  # the entries are as the checkpoint's description says (checked when read)
    if classes and len(classes) == getattr(model, "num_classes", None):
        out["label_names"] = list(classes)
    prep = run.get("preprocessing")
    if prep is None:
        config = run.get("config") or {}
        size = config.get("val_input_size") or config.get("input_size")
        if not isinstance(size, int) or not config.get("data"):
            return out
        prep = eval_preprocessing(
            config["data"], size, int(config.get("in_chans") or in_chans), config.get("val_resize")
        )
    out.update({k: tuple(v) if isinstance(v, list) else v for k, v in prep.items()})
    return out


def _weights_record(model: nn.Module, name: str, weights: ResolvedWeights, in_chans: int) -> dict[str, Any]:
    """The ``pretrained_cfg`` entries that the loaded weights determine."""
    entry = weights.entry
    cfg: dict[str, Any] = {"file": str(weights.path), "layout": weights.layout}
    if entry is None:
        size = (getattr(model, "pretrained_cfg", None) or {}).get("input_size", (in_chans, 224, 224))
        cfg.update(tag=None, resize_size=int(size[-1] / DEFAULT_CROP_PCT), label_names=None)
        if weights.run is not None:
            cfg.update(_run_record(model, weights.run, in_chans))
        return cfg
    for attr, value in weights.model_kwargs(in_chans).items():
        if getattr(model, attr, value) != value:  # a network built without what the weights were trained with
            log.warning(
                "%s: built with %s=%r; the weights %s were trained with %s=%r",
                name,
                attr,
                getattr(model, attr),
                entry.tag,
                attr,
                value,
            )
    same_head = getattr(model, "num_classes", None) == entry.num_classes
    cfg.update(
        tag=entry.tag,
        source=entry.source,
        url=entry.url,
        sha256=entry.sha256,
        num_classes=getattr(model, "num_classes", entry.num_classes),
        input_size=(in_chans, *entry.input_size[1:]),
        resize_size=entry.resize_size,
        crop_pct=entry.crop_pct,
        mean=_adapt_stats(entry.mean, in_chans),
        std=_adapt_stats(entry.std, in_chans),
        interpolation=entry.interpolation,
        label_names=(label_names(entry) or None) if same_head else None,
        dataset=entry.dataset,
        top1=entry.top1,
        top5=entry.top5,
        license=entry.license,
        notes=entry.notes,
    )
    return cfg
