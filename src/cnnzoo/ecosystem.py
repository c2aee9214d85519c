"""cnnzoo's models in timm's and torchvision's registries, so that their own programs build them.

One call each, after ``import cnnzoo.ecosystem``:

* :func:`timm_register` puts every cnnzoo model into timm's registry as ``cnnzoo_<name>``:
  ``timm.create_model("cnnzoo_resnet50", pretrained=True)`` and timm's scripts
  (``train.py --model cnnzoo_resnet20``, ``validate.py``, ``benchmark.py``) build it through
  :func:`cnnzoo.create_model`, which takes timm's factory arguments with timm's meanings;
* :func:`torchvision_register` puts them into torchvision's (``torchvision.models.get_model(
  "cnnzoo_resnet50", weights="DEFAULT")``), as its reference ``train.py`` builds a model, and
  makes them attributes of ``torchvision.models``, where older scripts look a model up.

GoogLeNet: a generic loop computes ``loss_fn(model(x), y)`` and cannot use the auxiliary
classifiers' outputs, so through these registries GoogLeNet is built with
``aux_logits=False`` (its training output is then the main logits, a tensor); pretrained
weights load without the auxiliary heads' keys. ``aux_logits=True`` (timm:
``--model-kwargs aux_logits=True``) gives the paper's training outputs to a loop that adds
their losses (:func:`cnnzoo.models.base.googlenet_loss`).

Registering is explicit (importing cnnzoo touches neither library) and idempotent; a name
that timm or torchvision already has for another model is an error, not an overwrite.

Their unchanged scripts run through :func:`main`, the way ``python -m cProfile`` runs one::

    python -m cnnzoo.ecosystem train.py --model cnnzoo_resnet20 ...

registers cnnzoo's models in whichever of the two is installed, then runs the script as
``__main__`` with its own arguments and its folder first on ``sys.path`` (torchvision's reference
``train.py`` imports ``presets``, ``utils`` and ``transforms`` from beside it). Neither timm nor
torchvision discovers models through package entry points (timm's registry is filled by the
``@register_model`` decorators its own modules run on import), so a runner, not a packaging entry
point, is what puts the models in front of their scripts.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from .errors import DuplicateModelError, InvalidArgumentError, MissingDependencyError
from .models.registry import get_model_entry, list_models

__all__ = ["PREFIX", "timm_register", "torchvision_register", "entrypoint", "main"]

#: the prefix of cnnzoo's names in the peers' registries (their own resnet50 keeps its name)
PREFIX = "cnnzoo_"
#: timm's registry reads each model's pretrained_cfgs from ``default_cfgs`` of its entry point's module
default_cfgs: dict[str, Any] = {}
#: constructor arguments the peers' generic loops need, per model (see the module docstring)
_LOOP_DEFAULTS: dict[str, dict[str, Any]] = {"googlenet": {"aux_logits": False}}


def _build(name: str, pretrained: Any, kwargs: dict[str, Any]) -> nn.Module:
    from .factory import create_model

    return create_model(name, pretrained=pretrained, **{**_LOOP_DEFAULTS.get(name, {}), **kwargs})


def entrypoint(name: str) -> Callable[..., nn.Module]:
    """The builder of cnnzoo model ``name`` under the peers' conventions (timm's ``pretrained``, torchvision's
    ``weights``): what :func:`timm_register` and :func:`torchvision_register` register."""
    get_model_entry(name)  # the registry refuses a name it does not hold, with the closest ones

    def build(pretrained: Any = False, *, weights: Any = None, progress: bool = True, **kwargs: Any) -> nn.Module:
        # torchvision's builders take weights= (None, "DEFAULT", a tag or a file) and progress=
        if weights is not None:
            if pretrained not in (False, None):
                raise InvalidArgumentError(f"{PREFIX}{name}: give pretrained= (timm) or weights= (torchvision)")
            pretrained = True if str(weights) in ("DEFAULT", "IMAGENET1K_V1") else _weights_name(weights)
        if kwargs.get("pretrained_cfg") is not None:
            kwargs["pretrained_cfg"] = _from_timm_registry(name, kwargs["pretrained_cfg"], pretrained)
        return _build(name, pretrained, kwargs)

    build.__name__ = build.__qualname__ = PREFIX + name
    build.__module__ = __name__
    build.__doc__ = f"cnnzoo's {name} (cnnzoo.create_model({name!r}, ...)) for timm's and torchvision's registries."
    setattr(build, "cnnzoo_model", name)  # noqa: B010 - marks the builder as ours (registration is idempotent)
    return build


def _from_timm_registry(name: str, cfg: Any, pretrained: Any) -> Any:
    """A ``pretrained_cfg`` handed to the builder, with timm's echo of its own registry taken out.

    timm's scripts resolve the registry's entry and pass it back (validate.py through
    ``resolve_model_input_args``). Such an entry says nothing the model does not know, and some of it
    (``fixed_input_size``, the weights' preprocessing) would misdescribe a model built without those
    weights; so it becomes its tag where weights are asked for (timm's meaning: to cnnzoo a tag alone asks
    for its weights) and nothing otherwise. Any other cfg (a tag, an overlay, a file) goes on unchanged.
    """
    from dataclasses import replace

    registered = default_cfgs.get(PREFIX + name)
    as_dict = cfg.to_dict() if callable(getattr(cfg, "to_dict", None)) else cfg
    if registered is None or not isinstance(as_dict, Mapping):
        return cfg
    for tag, entry in registered.cfgs.items():
        if dict(as_dict) == replace(entry, architecture=PREFIX + name, tag=tag or None).to_dict():
            return (tag or None) if pretrained not in (False, None) else None
    return cfg


def _timm_default_cfgs(name: str) -> Any:
    """What timm's registry records of cnnzoo model ``name``: a ``pretrained_cfg`` per catalogued tag (the default
    first), each with its weights' input and preprocessing; cnnzoo's defaults for a model without weights.

    timm's scripts resolve a model's data config from this registry (validate.py through
    ``resolve_model_input_args``); without an entry they get timm's generic one (224 x 224, bicubic), not
    the model's. No entry names a file: cnnzoo's own reader fetches and checks the weights.
    """
    from collections import deque

    from timm.models._pretrained import DefaultCfg, PretrainedCfg

    from .preprocessing import DEFAULT_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD
    from .weights.catalogue import CATALOGUE

    info = get_model_entry(name)
    chans = info.input_size[0]
    own: dict[str, Any] = {
        "input_size": tuple(info.input_size),
        "interpolation": "bilinear",
        "crop_pct": DEFAULT_CROP_PCT,
        "mean": IMAGENET_MEAN if chans == 3 else (0.5,) * chans,
        "std": IMAGENET_STD if chans == 3 else (0.5,) * chans,
        "num_classes": info.num_classes,
    }
    entries = sorted((e for e in CATALOGUE.values() if e.architecture == name), key=lambda e: not e.default)
    cfgs: dict[str, dict[str, Any]] = {
        e.tag.partition(".")[2]: {
            **own,
            "input_size": tuple(e.input_size),
            "interpolation": e.interpolation,
            "crop_pct": e.crop_pct,
            "mean": tuple(e.mean),
            "std": tuple(e.std),
            "num_classes": e.num_classes,
        }
        for e in entries
    } or {"": own}
    return DefaultCfg(tags=deque(cfgs), cfgs={tag: PretrainedCfg(**cfg) for tag, cfg in cfgs.items()})


def _weights_name(weights: Any) -> Any:
    # a torchvision WeightsEnum member names its file by url; cnnzoo takes a tag, a path or "hf-hub:..."
    if isinstance(weights, (str, os.PathLike)):
        return weights
    raise InvalidArgumentError(f"weights must be None, 'DEFAULT', a cnnzoo weight tag or a file, got {weights!r}")


def _names(names: list[str] | None) -> list[str]:
    return list_models() if names is None else list(names)


def _entry_of(peer: str, registry: Mapping[str, Any], name: str) -> Any:
    """What ``peer``'s ``registry`` holds under cnnzoo's name for model ``name``: None, or cnnzoo's builder
    from an earlier call. A model of theirs under that name is refused: replacing it would change what
    their programs build."""
    current = registry.get(PREFIX + name)
    if current is not None and getattr(current, "cnnzoo_model", None) != name:
        raise DuplicateModelError(f"{peer} already has a model '{PREFIX + name}' ({current.__module__})")
    return current


def timm_register(names: list[str] | None = None) -> list[str]:
    """Register cnnzoo's models (or ``names``) in timm's registry as ``cnnzoo_<name>``; returns the timm names.

    timm's ``create_model`` then calls the entry point with ``pretrained``, ``pretrained_cfg``,
    ``pretrained_cfg_overlay``, ``cache_dir`` and its other factory arguments, which
    :func:`cnnzoo.create_model` takes with timm's meanings.
    """
    try:
        from timm.models import _registry
    except ImportError:
        raise MissingDependencyError("timm_register needs timm: pip install timm") from None
    module = sys.modules[__name__]
    registered = []
    for name in _names(names):
        fn = entrypoint(name)
        key = fn.__name__
        if _entry_of("timm", _registry._model_entrypoints, name) is None:
            setattr(module, key, fn)  # timm lists a model under its module, whose attribute it is
            default_cfgs[key] = _timm_default_cfgs(name)  # register_model reads the module's default_cfgs
            _registry.register_model(fn)
        registered.append(key)
    return registered


def torchvision_register(names: list[str] | None = None) -> list[str]:
    """Register cnnzoo's models (or ``names``) in torchvision's registry as ``cnnzoo_<name>``; returns the names.

    ``torchvision.models.get_model("cnnzoo_resnet50", weights="DEFAULT", num_classes=...)`` then
    builds it: ``weights`` is None, ``"DEFAULT"`` (the catalogue's default weights), a cnnzoo tag
    or a weights file; other arguments go to :func:`cnnzoo.create_model`.
    """
    import torchvision.models  # a dependency of cnnzoo, as torch is
    from torchvision.models import _api

    registered = []
    for name in _names(names):
        key = PREFIX + name
        current = _entry_of("torchvision", _api.BUILTIN_MODELS, name)
        if current is None:
            current = _api.register_model(key)(entrypoint(name))
        # scripts older than get_model (torchvision's references before 0.14, PyTorch's ImageNet example)
        # look a model up as an attribute: torchvision.models.__dict__[args.model](pretrained=..., num_classes=...)
        if not hasattr(torchvision.models, key):
            setattr(torchvision.models, key, current)
        registered.append(key)
    return registered


_USAGE = "usage: python -m cnnzoo.ecosystem SCRIPT.py [ARGS...] (a timm or torchvision script, with cnnzoo's models)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a peer's script (``argv[0]``, with ``argv[1:]`` as its arguments) with cnnzoo's models registered.

    The script runs as ``__main__`` in this process, as ``python SCRIPT.py ARGS...`` would run it: its
    ``sys.argv`` is ``[SCRIPT, *ARGS]`` and its folder is ``sys.path[0]``. Returns 0 when the script
    ends normally (a ``sys.exit`` in it ends the process with its own status); a missing script is one
    line on stderr and status 2.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(_USAGE)
        return 0
    if not args or args[0].startswith("-"):
        print(_USAGE, file=sys.stderr)
        return 2
    script, script_args = args[0], args[1:]
    if not os.path.isfile(script):
        print(f"cnnzoo.ecosystem: no script {script!r}; {_USAGE}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("timm") is not None:
        timm_register()
    torchvision_register()
    # as `python SCRIPT.py` sets them: the script's own argv, and its folder (not ours) first on the path
    sys.argv = [script, *script_args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    # the importable module, not this __main__ copy of it: timm lists a model under its builder's module
    from cnnzoo.ecosystem import main as _main

    sys.exit(_main())
