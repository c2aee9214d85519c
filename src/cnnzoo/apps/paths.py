"""The file-path arguments of the apps' public functions, checked by their annotations.

:func:`cnnzoo.models.arguments.checked` reads ``Annotated[type, check]``; :data:`PathArg` is a path
a user gives (a string or an ``os.PathLike`` such as ``pathlib.Path``), so that ``export(model, 5)``
is refused in the caller's words instead of failing inside ``pathlib`` with a ``TypeError``.
"""

from __future__ import annotations

import os
from typing import Annotated

from ..errors import InvalidArgumentError, shown

__all__ = ["PathArg"]


def _check_path(name: str, value: object) -> None:
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidArgumentError(f"{name} must be a file path (a string or a pathlib.Path), got {shown(value)}")


#: a file path argument: a string or an ``os.PathLike``
PathArg = Annotated[str | os.PathLike[str], _check_path]
