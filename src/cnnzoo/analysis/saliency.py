"""Which input pixels a class score depends on: gradient saliency and SmoothGrad."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import InvalidArgumentError
from ..models.arguments import NonNegative, Whole, checked
from .trace import first_tensor, image_batch

__all__ = ["saliency", "target_classes"]


def _logits(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else first_tensor(out)  # type: ignore[return-value]


def target_classes(logits: torch.Tensor, target: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor:
    """The class explained for each image: ``target`` (one or one per image) or the predicted one."""
    n, num_classes = logits.shape
    if target is None:
        return logits.argmax(1)
    try:
        tgt = torch.as_tensor(target, device=logits.device, dtype=torch.long).reshape(-1).expand(n)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidArgumentError(f"target must be one class index or one per image, got {target!r}") from None
    if ((tgt < 0) | (tgt >= num_classes)).any():
        raise InvalidArgumentError(f"target must be a class index in [0, {num_classes}), got {target!r}")
    return tgt


@checked
def saliency(
    model: nn.Module,
    image: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    smoothgrad_samples: Whole = 0,
    noise: NonNegative = 0.15,
    blur: NonNegative = 0.0,
) -> torch.Tensor:
    """Gradient saliency: |d class score / d input|, maximum over the colour channels.

    Simonyan, Vedaldi and Zisserman 2014, "Deep Inside Convolutional Networks", Sec. 3.1;
    the score is the unnormalised logit of ``target`` (default: the predicted class).
    ``image`` is a preprocessed (C, H, W) or (N, C, H, W) tensor; the result is (H, W) or
    (N, H, W). ``smoothgrad_samples > 0`` averages the map over that many copies with
    Gaussian noise of standard deviation ``noise * (max - min)`` of each image (SmoothGrad,
    Smilkov et al. 2017, Sec. 3). ``blur > 0`` then smooths the map with a Gaussian of that
    standard deviation in pixels. Both cure the raw gradient's look: through strided
    convolutions it is a checkerboard (the kernels' uneven overlap, Odena et al. 2016,
    "Deconvolution and Checkerboard Artifacts"), and it is noisy where ReLUs switch (Smilkov
    et al. 2017, Sec. 2). The model's mode and its parameters' gradients are untouched.
    """
    x, single = image_batch(model, image, "saliency")
    x = x.detach()
    was_training = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            logits = _logits(model(x))
        tgt = target_classes(logits, target)

        def grad_map(inp: torch.Tensor) -> torch.Tensor:
            inp = inp.detach().requires_grad_(True)
            with torch.enable_grad():
                score = _logits(model(inp)).gather(1, tgt[:, None]).sum()
                (g,) = torch.autograd.grad(score, inp)
            return g.abs().amax(dim=1)

        if smoothgrad_samples == 0:
            maps = grad_map(x)
        else:
            spread = (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
            maps = torch.zeros(x.shape[0], *x.shape[2:], device=x.device, dtype=x.dtype)
            for _ in range(smoothgrad_samples):
                maps += grad_map(x + noise * spread * torch.randn_like(x))
            maps /= smoothgrad_samples
    finally:
        for m, mode in was_training.items():
            m.training = mode
    if blur > 0:
        from torchvision.transforms.v2.functional import gaussian_blur

        k = 2 * math.ceil(3 * blur) + 1  # +-3 sigma
        maps = gaussian_blur(maps[:, None].detach(), [k, k], [float(blur), float(blur)])[:, 0]
    return maps[0] if single else maps
