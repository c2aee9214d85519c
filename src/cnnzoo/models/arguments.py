"""The one check of a network's constructor arguments, read from the constructor's annotations.

Every cnnzoo network is built through its ``__init__``, which :class:`~cnnzoo.models.base.ZooModel`
wraps: before the constructor runs, each argument it is given is checked against the annotation
of its parameter (``bool``, ``int``, ``float``, ``str``, ``Literal[...]`` choices, ``type[...]``
classes, callables, sequences and tuples of these, ``X | None``). :data:`Count` and :data:`Rate`
add the bounds of a count (the table of :mod:`cnnzoo.limits`) and of a probability; a family's own
check of an argument rides the same way, as ``Annotated[type, check]`` with ``check(name, value)``
(MobileNet v2's stage table), and then says alone what fits. So a family
says once, in its signature, what each argument is, and its body trusts what it gets: a string
``"false"`` for a bool, which Python would read as true, is refused with the parameter's name and
what it takes, whichever way the network is built (``create_model``, ``--model-arg``, the class).

The public functions of the API cross the same boundary: :func:`checked` wraps one so that its
arguments are checked against its annotations before its body runs, which then trusts them
(``saliency(..., smoothgrad_samples=2.0)`` is refused in the caller's words, not deep inside).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union

from ..errors import InvalidArgumentError, shown
from ..limits import check_count

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "Count",
    "Rate",
    "Whole",
    "NonEmpty",
    "NonNegative",
    "Positive",
    "within",
    "check_rate",
    "check_arguments",
    "checked",
    "fits",
    "describe",
]


def within(
    low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> Callable[[str, Any], None]:
    """The check of a finite number from ``low`` to ``high`` (each end included unless open), for
    ``Annotated[float, within(...)]``: the one check of a bounded number, in one wording."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    bound = f"in {lo}{low:g}, {high:g}{hi}" if math.isfinite(high) else f"{'>' if low_open else '>='} {low:g}"

    def check(name: str, value: Any) -> None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        above = number and (low < value if low_open else low <= value)
        if not (above and (value < high if high_open else value <= high)):
            raise InvalidArgumentError(f"{name} must be a number {bound}, got {shown(value)}")

    return check


def _check_whole(name: str, value: int) -> None:
    check_count(name, value, low=0)


#: the check of a dropout or drop-path probability, in [0, 1)
check_rate = within(0.0, 1.0, high_open=True)
#: a constructor argument that counts something (layers, widths, groups): a whole number >= 1
Count = Annotated[int, check_count]
#: a dropout or drop-path probability
Rate = Annotated[float, check_rate]
#: ``Annotated[Sequence[T], NonEmpty]``: a sequence of T with at least one item (an empty one names nothing to do)
NonEmpty = "non-empty"
#: a count that may be zero (samples, repeats): a whole number >= 0
Whole = Annotated[int, _check_whole]
#: a finite number >= 0 (a noise level, a blur radius)
NonNegative = Annotated[float, within(0.0)]
#: a finite number > 0 (a scale, a temperature)
Positive = Annotated[float, within(0.0, low_open=True)]


def check_arguments(owner: str, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """Refuse (:class:`~cnnzoo.errors.InvalidArgumentError`) an argument of a call ``fn(self, *args,
    **kwargs)`` that its parameter's annotation does not admit; ``owner`` names the network in the
    message. Arguments ``fn`` does not take are left to the call, which refuses them."""
    hints, positional = _signature(fn)
    _check_each(owner, hints, {**dict(zip(positional, args)), **kwargs})


def checked(fn: F) -> F:
    """``fn`` (a public function or method of the API) with its arguments checked against its
    annotations before it runs, as :func:`check_arguments` checks a constructor's: a value its
    annotation does not admit is an :class:`~cnnzoo.errors.InvalidArgumentError` that names the
    function, the parameter and what it takes. Unannotated parameters and ``Any`` pass."""
    # a method is named by its class where its own name says nothing (DecodeImages, not __call__)
    owner = fn.__qualname__.rsplit(".", 1)[0] if fn.__name__.startswith("__") else fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hints, positional = _signature(fn)
        bound = args[1:] if fn.__name__ == "__init__" else args  # self, which _signature leaves out
        _check_each(owner, hints, {**dict(zip(positional, bound)), **kwargs})
        return fn(*args, **kwargs)

    return typing.cast(F, wrapper)


def _check_each(owner: str, hints: dict[str, Any], arguments: dict[str, Any]) -> None:
    for name, value in arguments.items():
        hint = hints.get(name)
        if hint is None:
            continue
        if not fits(value, hint):
            raise InvalidArgumentError(f"{owner}: {name} must be {describe(hint)}, got {shown(value)}")
        _check_bounds(name, value, hint)


@functools.cache
def _signature(fn: Callable[..., Any]) -> tuple[dict[str, Any], list[str]]:
    # the annotations (with their Annotated checks), and the names positional arguments bind to
    # (a constructor's after self; a checked function's all of them, self included)
    params = list(inspect.signature(fn).parameters.values())
    if fn.__name__ == "__init__":
        params = params[1:]
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return typing.get_type_hints(fn, include_extras=True), positional


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the type annotation ``hint`` (a bool is no number; an int is a float;
    a list is a tuple, as YAML and JSON give them). The checks of an ``Annotated`` hint (:data:`Count`,
    :data:`Rate`) decide alone what fits it, and say in their own words what does not."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:  # its checks decide alone, but a NonEmpty sequence is one of its type
        return NonEmpty not in args[1:] or (fits(value, args[0]) and len(value) > 0)
    if origin in (Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if origin is type:
        return isinstance(value, type) and issubclass(value, args[0])
    if origin is Callable:
        return callable(value)
    if origin in (tuple, list, Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return False
        if origin is tuple and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(fits(v, arg) for v, arg in zip(value, args))
        return all(fits(v, args[0]) for v in value)
    if hint is Any:
        return True
    if hint in (None, type(None)):
        return value is None
    if hint in (int, float):
        return isinstance(value, (int, float) if hint is float else int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)  # os.PathLike[str]: isinstance takes the unsubscripted class


def _check_bounds(name: str, value: Any, hint: Any) -> None:
    # the checks an Annotated hint carries (Count, Rate), where ``value`` (which fits ``hint``) meets
    # it, items included; None is no count or rate
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        for check in args[1:]:
            if callable(check):
                check(name, value)
        _check_bounds(name, value, args[0])  # and those of what it annotates: a NonEmpty sequence's items
    elif origin in (Union, types.UnionType) and value is not None:
        _check_bounds(name, value, next(arg for arg in args if fits(value, arg)))
    elif origin in (tuple, list, Sequence):
        items = args if origin is tuple and args[-1] is not Ellipsis else [args[0]] * len(value)
        for i, (v, arg) in enumerate(zip(value, items)):
            _check_bounds(f"{name}[{i}]", v, arg)


def describe(hint: Any) -> str:
    """What the annotation ``hint`` admits, in words (``one of '7x7', 'deep', 'cifar'``)."""
    parts = _alternatives(hint)
    choice = len(parts) > 3 and not any(p.startswith(("a ", "an ")) for p in parts)  # named values and classes
    return ("one of " if choice else "") + (", ".join(parts[:-1]) + " or " if len(parts) > 1 else "") + parts[-1]


def _alternatives(hint: Any) -> list[str]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        parts = _alternatives(args[0])
        return [f"a non-empty {part.removeprefix('a ')}" for part in parts] if NonEmpty in args[1:] else parts
    if origin in (Union, types.UnionType):
        return [part for arg in args for part in _alternatives(arg)]
    if origin is Literal:
        return [repr(arg) for arg in args]
    if origin is type:  # a block of ours by its name; torch's base classes as a class of theirs
        cls = args[0]
        return [f"an nn.{cls.__name__} class" if cls.__module__.startswith("torch.nn") else cls.__name__]
    if hint is bool:
        return ["True", "False"]
    if hint in (None, type(None)):
        return ["None"]
    nouns = {int: "an integer", float: "a number", str: "a string", Any: "a value"}
    if hint in nouns:
        return [nouns[hint]]
    if origin in (tuple, list, Sequence):
        if origin is tuple and args[-1] is not Ellipsis and len(set(args)) > 1:
            return [f"a {_spelled(hint)}"]
        count = f"{len(args)} " if origin is tuple and args[-1] is not Ellipsis else ""
        return [f"a sequence of {count}{_plural(args[0])}"]
    if origin is Callable:  # Callable[[int], nn.Module]: "a callable (int) -> Module"
        params, result = args
        return [
            f"a callable ({'...' if params is Ellipsis else ', '.join(map(_spelled, params))}) -> {_spelled(result)}"
        ]
    return [f"a {_spelled(hint)}"]


def _plural(hint: Any) -> str:
    # the items of a sequence, in words: "integers", "sequences of integers"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    nouns = {bool: "booleans", int: "integers", float: "numbers", str: "strings", os.PathLike: "os.PathLike paths"}
    if origin is Annotated:
        return ("non-empty " if NonEmpty in args[1:] else "") + _plural(args[0])
    if (origin or hint) in nouns:
        return nouns[origin or hint]
    if origin in (Union, types.UnionType):  # str | os.PathLike[str]: "strings or os.PathLike paths"
        return " or ".join(map(_plural, args))
    if origin in (tuple, list, Sequence):
        return f"sequences of {_plural(args[0])}"
    return f"values of type {_spelled(hint)}"


def _spelled(hint: Any) -> str:
    # an annotation as it is written: Sequence[int], tuple[int, int, int]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _spelled(args[0])
    if origin is None:
        return "..." if hint is Ellipsis else getattr(hint, "__name__", str(hint))
    return f"{origin.__name__}[{', '.join(map(_spelled, args))}]"
