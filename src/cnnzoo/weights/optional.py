"""The optional packages the weights code uses (safetensors, huggingface_hub), imported when needed."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingDependencyError

__all__ = ["optional_module"]


def optional_module(name: str, why: str, install: str) -> Any:
    """The module ``name`` of an optional package; where it is not installed, a :class:`MissingDependencyError`
    saying ``why`` it is needed and what to install (``pip install <install>``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(f"{why} needs {name.partition('.')[0]}: pip install {install}") from None
