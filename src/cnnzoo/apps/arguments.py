"""The annotations of the apps' public arguments that :func:`cnnzoo.models.arguments.checked` reads
besides its own: a file path and a dict of options, each ``Annotated[type, check]``.

So that ``export(model, 5)`` or ``benchmark(model_args=5)`` is refused in the caller's words instead
of failing inside ``pathlib`` or ``dict()`` with a ``TypeError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from ..errors import InvalidArgumentError, shown

__all__ = ["PathArg", "Options"]


def _check_path(name: str, value: object) -> None:
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidArgumentError(f"{name} must be a file path (a string or a pathlib.Path), got {shown(value)}")


def _check_options(name: str, value: object) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidArgumentError(f"{name} must be a dict with string keys, got {shown(value)}")


#: a file path argument: a string or an ``os.PathLike``
PathArg = Annotated[str | os.PathLike[str], _check_path]
#: a dict of named options or values (constructor arguments, a table row)
Options = Annotated[dict[str, Any], _check_options]
