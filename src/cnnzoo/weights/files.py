"""Reading weight files safely: ``torch.load(weights_only=True)`` or safetensors, nothing else.

A file that would need arbitrary unpickling (a pickled class, a function) is refused with
:class:`~cnnzoo.errors.UnsafeCheckpointError`; its code never runs. The format is found from
the content (safetensors' JSON header), not only from the suffix.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, MissingDependencyError, UnsafeCheckpointError, WeightsError

__all__ = ["read_weights_file"]


def _is_safetensors(path: Path) -> bool:
    # safetensors: an 8-byte little-endian header length, then a JSON header starting "{"
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 2 <= int.from_bytes(head[:8], "little") <= path.stat().st_size - 8


def read_weights_file(path: str | os.PathLike[str]) -> Any:
    """Load a ``.pth``/``.pt`` or ``.safetensors`` file safely, whatever its suffix says.

    torch files are read with ``weights_only=True`` on the CPU; a file that needs arbitrary
    unpickling is an :class:`UnsafeCheckpointError`. The format is found from the content
    (safetensors' JSON header), not only from the suffix.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at '{path}'")
    if _is_safetensors(path):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise MissingDependencyError(
                f"'{path}' is a safetensors file; reading it needs the safetensors package: "
                "pip install safetensors (or pip install 'cnnzoo[safetensors]')") from None
        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # safetensors raises its own SafetensorError
            raise WeightsError(f"'{path}' is not a readable safetensors file: {e}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's weights-only unpickler names what it refused, after its generic preamble
        detail = next((ln.strip() for ln in str(e).splitlines()
                       if "GLOBAL" in ln or "Unsupported" in ln), "")
        if "GLOBAL" in detail:
            raise UnsafeCheckpointError(
                f"refusing to load '{path}': it needs arbitrary unpickling, which can run code "
                f"({detail}). Load it only if you trust it, then save its state_dict with "
                "torch.save or as safetensors") from None
        raise CheckpointError(
            f"'{path}' is not a PyTorch weights file that can be read safely: it is corrupt, or "
            f"a plain pickle that would need arbitrary unpickling, which cnnzoo refuses ({detail})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(
            f"'{path}' is not a readable PyTorch weights file (truncated or corrupt?): "
            f"{str(e).splitlines()[0][:200]}") from None
    except Exception:  # noqa: BLE001 - a text or other file read as a legacy pickle fails any which way (KeyError ...)
        raise CheckpointError(
            f"'{path}' is not a PyTorch weights file (neither torch.save output nor safetensors); "
            "pass a .pth/.pt/.safetensors state dict") from None
