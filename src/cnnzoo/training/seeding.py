"""Seeds and random-number-generator states: what makes a run repeatable and resumable."""

from __future__ import annotations

import random
import warnings

import numpy as np
import torch

from ..weights.checkpoint import RngState

__all__ = ["seed_everything", "get_rng_state", "set_rng_state"]


def seed_everything(seed: int, deterministic: bool | None = None, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch (every device).

    Which kernels run, deterministic ones or the fastest, is a setting of the run, chosen for
    its duration by :func:`cnnzoo.training.setup.process_settings`. ``deterministic`` and
    ``device`` are deprecated (kept for one release): given, they still set those flags for
    the rest of the process, as this function used to.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic is not None or device is not None:
        warnings.warn(
            "seed_everything(seed, deterministic, device) is deprecated and will take only the seed in "
            "the next release; the kernels of a run are set by cnnzoo.training.setup.process_settings",
            DeprecationWarning,
            stacklevel=2,
        )
        # imported here: setup imports this module, and the old flags go with these arguments
        from .setup import _choose_kernels

        # as before: switched on by a deterministic seeding, never switched off by another
        _choose_kernels(
            bool(deterministic) or torch.are_deterministic_algorithms_enabled(),
            device or torch.device("cpu"),
            fast=not deterministic,
        )


def get_rng_state() -> RngState:
    """Every RNG state as tensors and plain lists (storable with ``weights_only`` loading), as a
    checkpoint describes them (:class:`~cnnzoo.weights.checkpoint.RngState`)."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: RngState = {
        "torch": torch.get_rng_state(),
        "python": [version, list(mt), gauss],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: RngState) -> None:
    """Restore the states of :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
