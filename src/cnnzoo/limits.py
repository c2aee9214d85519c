"""The one table of bounds and types of the numbers users give: every command and the API check here.

A value that passes a type check can still crash the process or exhaust the machine (10^5 threads,
a 10^5-pixel input, a seed torch cannot hold, a 10^6-digit integer, YAML nested a thousand deep), so
each integer setting has an upper bound in :data:`LIMITS`; ``cnnzoo train`` (``TrainConfig``),
``export``, ``benchmark``, ``info`` and ``--model-arg`` all read it.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Union

from .errors import CnnzooError, InvalidArgumentError, shown

__all__ = [
    "LIMITS",
    "MODEL_ARG_CHARS",
    "MODEL_ARG_DEPTH",
    "check_count",
    "check_input_size",
    "conform",
    "parse_model_arg",
    "model_arg_defaults",
    "nesting",
]

#: upper bounds of the integer settings, by name
LIMITS: dict[str, int] = {
    "epochs": 1_000_000,
    "batch_size": 65_536,
    "grad_accum": 65_536,
    "step_size": 1_000_000,
    "ema_every": 1_000_000,
    "log_every": 1_000_000_000,
    "max_steps": 10**12,
    "limit_batches": 10**12,
    "save_every": 10**12,
    "keep_last": 1_000_000,
    "input_size": 8192,
    "val_input_size": 8192,
    "val_resize": 8192,
    # beyond these the first convolution or the classifier alone takes tens of gigabytes
    # (hyperspectral images have a few hundred bands; ImageNet-21k has 21,841 classes)
    "in_chans": 4096,
    "num_classes": 1_000_000,
    "threads": 1024,
    "workers": 256,
    "seed": 2**63 - 1,
    "topk": 100_000,
    "n": 1_000_000,
    # a benchmark's untimed and timed runs of each model: beyond these it runs for days
    "warmup": 10_000,
    "repeats": 100_000,
    "depth": 64,  # n: the images of cnnzoo data samples
}
#: the longest ``--model-arg`` value, and how deep its lists and mappings may nest
MODEL_ARG_CHARS, MODEL_ARG_DEPTH = 1024, 4


def check_count(name: str, value: Any, error: type[CnnzooError] = InvalidArgumentError, *, low: int = 1) -> int:
    """``value`` as a whole number from ``low`` to ``LIMITS[name]`` (unbounded above for a name not in
    the table: a model's own counts, which its constructor bounds by what they build); a bool is no number."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= LIMITS.get(name, value):
        bound = f"from {low} to {LIMITS[name]:,}" if name in LIMITS else f">= {low}"
        raise error(f"{name} must be a whole number {bound}, got {shown(value)}")
    return value


def check_input_size(size: Sequence[Any], error: type[CnnzooError] = InvalidArgumentError) -> tuple[int, ...]:
    """An input (C, H, W): channels up to ``LIMITS["in_chans"]``, each side up to ``LIMITS["input_size"]``."""
    size = tuple(size)
    if len(size) == 3:
        check_count("in_chans", size[0], error)
    for side in size[-2:]:
        check_count("input_size", side, error)
    return size


def conform(value: Any, hint: Any) -> tuple[bool, Any]:
    """Whether ``value`` is of the type annotation ``hint``, and the value in that type: the one type
    check of settings (``TrainConfig``) and of checkpoints. Containers, unions, ``Annotated`` (whose
    extra arguments are checks of the value) and TypedDicts are followed; a bool is no number, an int
    is a float (converted), a tuple is a list (converted)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        ok, value = conform(value, args[0])
        return ok and all(check(value) for check in args[1:]), value
    if origin in (Union, types.UnionType):
        for arg in args:
            ok, converted = conform(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [conform(v, args[0]) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict:
        if not isinstance(value, dict):
            return False, value
        pairs = [(conform(k, args[0]), conform(v, args[1])) for k, v in value.items()]
        return all(k[0] and v[0] for k, v in pairs), {k[1]: v[1] for k, v in pairs}
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        return isinstance(value, dict) and all(k in value and conform(value[k], h)[0] for k, h in hints.items()), value
    if origin is Literal:
        return any(type(value) is type(choice) and value == choice for choice in args), value
    if hint is Any:
        return True, value
    if hint is type(None):
        return value is None, value
    if hint in (int, float):
        ok = isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
        return ok, float(value) if ok and hint is float else value
    return isinstance(value, origin or hint), value  # os.PathLike[str]: isinstance takes the bare class


def model_arg_defaults(constructor: Callable[..., Any]) -> dict[str, Any]:
    """The default of each argument a model constructor takes, following ``**kwargs`` into the
    network class it returns (``resnet18(**kwargs) -> ResNet``): what a ``--model-arg`` is typed by.
    An optional bool defaulting to None (the network decides, as ResNet's ``zero_init_residual``)
    is typed as a bool: it reads true or false, never a string."""
    defaults: dict[str, Any] = {}
    for fn in (constructor, typing.get_type_hints(constructor).get("return")):
        if not callable(fn):
            continue
        hints = _type_hints(typing.cast(Any, fn).__init__ if isinstance(fn, type) else fn)
        for name, p in inspect.signature(fn).parameters.items():
            if p.default is None and hints.get(name) == bool | None:
                defaults.setdefault(name, False)
            elif p.default is not p.empty:
                defaults.setdefault(name, p.default)
    return defaults


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):  # an annotation that names what only a type checker imports
        return {}


_BOOLS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def nesting(value: Any) -> int:
    """How deep the lists and mappings of a YAML or JSON value nest (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


def parse_model_arg(key: str, text: str, default: Any = None) -> Any:
    """A ``--model-arg KEY=VALUE`` value, read by the argument's default: for a bool the words
    true/false/yes/no/on/off/1/0 (the string "false" is not true), for an int or float a number,
    for a string the text as given; anything else (other words, lists, None defaults) as YAML.
    Whether the value fits the argument is the constructor's own check of its annotations
    (:func:`cnnzoo.models.arguments.check_arguments`), as for a network built in Python: a bool
    argument given ``maybe`` is refused there. Here only the size is bounded: at most
    :data:`MODEL_ARG_CHARS` characters, nested at most :data:`MODEL_ARG_DEPTH` deep, each number
    finite and at most 2**53."""
    import yaml

    if len(text) > MODEL_ARG_CHARS:
        raise InvalidArgumentError(f"--model-arg {key} is {len(text):,} characters long; at most {MODEL_ARG_CHARS:,}")
    kind = type(default)
    if kind is str:
        return text
    if kind is bool and text.strip().lower() in _BOOLS:
        return _BOOLS[text.strip().lower()]
    value = _number(kind, text) if kind in (int, float) else None
    try:
        value = yaml.safe_load(text) if value is None else value
        deep = nesting(value) > MODEL_ARG_DEPTH
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InvalidArgumentError(f"--model-arg {key}={shown(text)}: the value is not YAML ({problem})") from None
    except RecursionError:  # YAML's parser recurses once per level: a few hundred brackets exhaust the stack
        deep = True
    if deep:
        raise InvalidArgumentError(f"--model-arg {key} nests deeper than {MODEL_ARG_DEPTH} levels")
    if any(_number_beyond(v) for v in _leaves(value)):
        raise InvalidArgumentError(f"--model-arg {key} holds a number beyond 2**53 or not finite: {shown(text)}")
    return value


def _number(kind: type, text: str) -> Any:
    # an int or float argument's text as that number; None where it is none (then read as YAML, which
    # the constructor's annotation refuses for a number unless it is one: "2.5" for an int)
    try:
        return kind(text)
    except ValueError:
        return None


def _number_beyond(value: Any) -> bool:
    # a number a network cannot be built from: NaN, infinite, or beyond float's exact integers
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not abs(value) <= 2**53


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]
