"""The exceptions cnnzoo raises, in one place so that users can catch them.

Every class derives from :class:`CnnzooError`; where a builtin exception describes the
same situation (an unknown key, a bad value) the class derives from that too, so code
written for torchvision or timm that catches ``KeyError``/``ValueError`` keeps working.
The CLI turns any :class:`CnnzooError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CnnzooError",
    "UnknownModelError",
    "DuplicateModelError",
    "InvalidArgumentError",
    "InputSizeError",
    "UnknownWeightsError",
    "WeightsError",
    "WeightsDownloadError",
    "HashMismatchError",
    "OfflineError",
    "UnsafeCheckpointError",
    "IncompatibleWeightsError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "TrainingDivergedError",
    "MissingDependencyError",
    "OutputDirError",
    "WriteError",
    "ExportError",
    "ModelContractError",
    "suggest",
    "shown",
]


class _OneLineRepr(reprlib.Repr):
    def repr_Tensor(self, value: Any, level: int) -> str:  # noqa: N802 - reprlib dispatches on the type's name
        # a tensor's own repr spans lines and shows numbers nobody asked for; what it is says more
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"


_REPR = _OneLineRepr()  # (its keyword arguments are Python 3.12's)
_REPR.maxlevel = 2
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 6
_REPR.maxdeque = 6
_REPR.maxstring, _REPR.maxlong, _REPR.maxother = 60, 40, 60


def shown(value: Any) -> str:
    """A value as a message may quote it: its repr, bounded (a 400-byte YAML of aliases can expand to
    gigabytes), on one line (a name with a newline would make a second line on stderr)."""
    return " ".join(_REPR.repr(value).split("\n"))


class CnnzooError(Exception):
    """Base class of every error cnnzoo raises on purpose."""

    def __str__(self) -> str:  # KeyError quotes its message; we want the plain sentence
        text = str(self.args[0]) if self.args else self.__class__.__name__
        if text.startswith("Caught ") and "\nOriginal Traceback" in text:
            # re-raised by a DataLoader worker, which puts the worker's traceback in the
            # message; the user needs the original sentence, its last line
            text = text.rstrip().splitlines()[-1].partition(": ")[2] or text
        return text


def suggest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The registered names closest to ``name`` (for 'did you mean ...?' messages)."""
    choices = list(choices)
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    # prefix matches catch 'resnet' -> resnet18, resnet34, ... which difflib ranks low
    prefix = [c for c in choices if c.startswith(name) and c not in close]
    return (close + prefix)[:n]


class UnknownModelError(CnnzooError, KeyError):
    """A model name that is not registered; the message lists the closest names."""

    def __init__(self, name: str, choices: Iterable[str]) -> None:
        self.name = name
        self.suggestions = suggest(name, choices) if isinstance(name, str) else []
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown model {shown(name)}{hint} (cnnzoo list shows every model)")


class DuplicateModelError(CnnzooError, ValueError):
    """A second registration under a name that is taken."""


class InvalidArgumentError(CnnzooError, ValueError):
    """A constructor or API argument that is wrong (unknown, out of range, wrong type)."""


class InputSizeError(CnnzooError, ValueError):
    """An input too small (or of the wrong shape) for a network."""


class UnknownWeightsError(CnnzooError, KeyError):
    """A weight tag that is not in the catalogue."""


class WeightsError(CnnzooError):
    """Base class of the errors about weight files."""


class WeightsDownloadError(WeightsError):
    """A download that failed or was cut; nothing is left in the cache."""


class HashMismatchError(WeightsError):
    """A file whose SHA-256 is not the one the catalogue expects: refused, not loaded."""


class OfflineError(WeightsError):
    """Weights needed that are not cached while offline; the message says what to fetch."""


class IncompatibleWeightsError(WeightsError, ValueError):
    """A state dict that does not fit the model (missing/unexpected keys, shapes)."""


class CheckpointError(CnnzooError):
    """A training checkpoint that cannot be used (corrupt, truncated, another model)."""


class UnsafeCheckpointError(WeightsError, CheckpointError):
    """A weights file or checkpoint that would need arbitrary unpickling to load: refused (by every reader
    of either, so it is both errors)."""


class ConfigError(CnnzooError, ValueError):
    """A training config with an unknown key, a wrong type or a syntax error."""


class DataError(CnnzooError):
    """A dataset that is missing, empty or malformed."""


class DeviceError(CnnzooError):
    """A device or precision that this machine cannot provide."""


class TrainingDivergedError(CnnzooError):
    """A NaN or infinite loss, validation loss or weights; nothing non-finite is saved (a previous
    checkpoint, if any, is kept)."""


class OutputDirError(CnnzooError):
    """A run directory that is a file, not writable, or in use by another run (its lock)."""


class WriteError(CnnzooError, OSError):
    """A file cnnzoo cannot write: the target is not a regular file (a device, a FIFO, a folder, a
    link), or the write failed (a full disk, no inodes, a read-only file system). The message says
    what was kept."""


class MissingDependencyError(CnnzooError, ImportError):
    """An optional dependency that a feature needs is not installed."""


class ExportError(CnnzooError):
    """An exported model (ONNX, TorchScript) whose outputs differ from PyTorch's; not written."""


class ModelContractError(CnnzooError, TypeError):
    """A network class (a subclass of ``ZooModel``) that does not provide what every cnnzoo network must;
    raised when the class is defined or, for what only an instance shows, when it is built."""
