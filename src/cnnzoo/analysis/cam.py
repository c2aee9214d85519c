"""Grad-CAM: which regions of the image the evidence for a class comes from.

Selvaraju, Cogswell, Das, Vedantam, Parikh and Batra, "Grad-CAM: Visual Explanations from
Deep Networks via Gradient-based Localization", ICCV 2017, Sec. 3. Written here rather than
taken from the ``grad-cam`` package: the method is one forward hook on one layer and a few
tensor operations, while that package needs OpenCV, scikit-learn, ttach and matplotlib at
import; here the layer is named as everywhere else in cnnzoo (``"layer4"``, ``cnnzoo info``
lists them) and its default comes from :func:`~cnnzoo.analysis.features.stage_names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgumentError
from ..models.arguments import checked
from .features import stages_of
from .saliency import _logits, target_classes
from .trace import first_tensor, image_batch, layer_named, trace

__all__ = ["grad_cam", "default_cam_layer"]


def default_cam_layer(model: nn.Module, input_size: Sequence[int]) -> str:
    """The last stage whose map is larger than 1x1 (ResNet ``layer4``, VGG ``features.30``,
    GoogLeNet ``inception5b``; LeNet-5's C5 map is 1x1 at 32x32, so its S4)."""
    tr = trace(model, tuple(input_size))
    spatial = [n for n in stages_of(tr, model) if tr.shapes.get(n, (1, 1))[-2:] != (1, 1)]
    if not spatial:
        raise InvalidArgumentError(
            f"{type(model).__name__} has no feature map larger than 1x1 at "
            f"{'x'.join(map(str, input_size))}; Grad-CAM needs one (pass layer=...)"
        )
    return spatial[-1]


@checked
def grad_cam(
    model: nn.Module,
    image: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    layer: str | None = None,
) -> torch.Tensor:
    """Grad-CAM map of ``target`` (default: the predicted class), at the input's resolution.

    The activations ``A`` of ``layer`` (a module name; default the last stage larger than
    1x1, see :func:`default_cam_layer`) are weighted by the spatial mean of the gradient of
    the class score (the logit) with respect to them, summed over channels and passed
    through a ReLU (Selvaraju et al. 2017, Eq. 1-2), then upsampled bilinearly to the image
    size and scaled to [0, 1] per image (an all-zero map stays zero). ``image`` is a
    preprocessed (C, H, W) or (N, C, H, W) tensor; the result is (H, W) or (N, H, W). A
    layer called several times contributes its last call. The model's mode and its
    parameters' gradients are untouched.
    """
    x, single = image_batch(model, image, "grad_cam")
    name = layer if layer is not None else default_cam_layer(model, tuple(x.shape[1:]))
    captured: list[torch.Tensor] = []

    def keep(mod: nn.Module, inputs: Any, out: Any) -> Any:
        t = first_tensor(out)
        if t is not None:
            captured.append(t)
        # a copy goes on, so that an in-place op downstream (ReLU(inplace=True)) cannot change
        # the activations kept here
        return out.clone() if isinstance(out, torch.Tensor) else None

    handle = layer_named(model, name).register_forward_hook(keep)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.enable_grad():
            logits = _logits(model(x.detach().requires_grad_(True)))
            if not captured:
                raise InvalidArgumentError(f"layer '{name}' does not run in eval mode; choose another layer")
            acts = captured[-1]
            if acts.ndim != 4:
                raise InvalidArgumentError(
                    f"layer '{name}' gives a {acts.ndim}-D output; Grad-CAM needs a feature map (N, C, H, W)"
                )
            score = logits.gather(1, target_classes(logits, target)[:, None]).sum()
            (grads,) = torch.autograd.grad(score, acts)
    finally:
        handle.remove()
        for m, mode in modes.items():
            m.training = mode
    weights = grads.mean(dim=(2, 3), keepdim=True)  # alpha_k^c: global-average-pooled gradients (Eq. 1)
    cam = F.relu((weights * acts).sum(dim=1, keepdim=True)).detach().float()  # Eq. 2
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    cam = torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), cam)
    return cam[0] if single else cam
