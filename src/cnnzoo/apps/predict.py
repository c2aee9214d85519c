"""Classify image files as the weights were evaluated, and show where the model looked.

:func:`preprocess` reads an image with ``torchvision.io`` and prepares it with the
weights' own ``pretrained_cfg`` (resize, centre crop, channels, mean/std); :func:`predict`
gives the top classes; :func:`saliency_overlay` and :func:`cam_overlay` write the image
beside its gradient saliency or Grad-CAM map; :func:`load_model` takes weights from the
catalogue, a file or a run's checkpoint (with that run's classes and preprocessing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..analysis.cam import grad_cam
from ..analysis.saliency import saliency
from ..atomic import atomic_write, output_file
from ..data.decode import check_resized, encode_png, read_image
from ..errors import DataError, InvalidArgumentError, WeightsError
from ..limits import check_count, check_input_size
from ..reading import walk_files

__all__ = ["preprocess", "predict", "image_files", "saliency_overlay", "cam_overlay", "load_model"]


def _cfg(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None)
    if not cfg or "input_size" not in cfg:
        raise InvalidArgumentError("the model has no pretrained_cfg with its preprocessing; build it "
                                   "with cnnzoo.create_model(name, pretrained=...)")
    return cfg


def preprocess(path: str | os.PathLike[str], cfg: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an image file and prepare it as the weights expect: ``(input, display)``.

    Decoded by :func:`cnnzoo.data.read_image` (grayscale for 1-channel models, RGB
    otherwise), shorter side resized to ``resize_size`` (or ``crop / crop_pct``), centre
    cropped to ``input_size`` and normalised with ``mean``/``std``: torchvision's and timm's
    evaluation transform; with ``crop_mode="squash"`` (a run on digits, MNIST or CIFAR) the
    whole image is resized to ``input_size``, as those runs evaluate. ``display`` is the
    image in [0, 1] before normalisation.
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    path = Path(path)
    chans, height, width = check_input_size(cfg["input_size"])  # a crafted preprocessing config too
    img = read_image(path, 1 if chans == 1 else 3)  # a DataError (one line) for a damaged file
    if chans not in (1, 3):  # an adapted first convolution: RGB repeated cyclically, as its weights
        img = img[[i % 3 for i in range(chans)]]
    x = img.float().div_(255.0)
    interp = InterpolationMode(cfg.get("interpolation") or "bilinear")
    if cfg.get("crop_mode") == "squash":  # the whole image to the input size (a digits or CIFAR run)
        x = F.resize(check_resized(x, [height, width]), [height, width], interpolation=interp, antialias=True)
    else:
        resize = cfg.get("resize_size") or int(math.floor(height / float(cfg.get("crop_pct") or 1.0)))
        size = [resize] if isinstance(resize, int) else list(resize)
        x = check_resized(x, check_input_size(size), f"image {path}")
        x = F.center_crop(F.resize(x, size, interpolation=interp, antialias=True), [height, width])
    display = x.clamp(0, 1)
    mean = torch.tensor(cfg["mean"]).view(-1, 1, 1)
    std = torch.tensor(cfg["std"]).view(-1, 1, 1)
    return (display - mean) / std, display


def image_files(paths: Sequence[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
    """The images to predict: files as given, and for a folder its image files, sorted by name.

    A folder's images are its files with the suffixes torchvision's ``ImageFolder`` reads
    (the ones ``cnnzoo train`` reads); its sub-folders are not entered (a folder of class
    folders is evaluated by ``cnnzoo eval --data DIR``).
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS

    out: list[str | os.PathLike[str]] = []
    for given in paths:
        folder = Path(given)
        if not folder.is_dir():
            out.append(given)
            continue
        found = [f for f in walk_files(folder, max_depth=0) if f.suffix.lower() in IMG_EXTENSIONS]
        if not found:
            subs = sorted(d.name for d in folder.iterdir() if d.is_dir())
            hint = (f"; it holds folders ({', '.join(subs[:3])}{', ...' if len(subs) > 3 else ''}): give one of "
                    f"them, or evaluate a folder of class folders with cnnzoo eval --data {folder}") if subs else ""
            raise DataError(f"{folder} is a directory with no image files ({' '.join(IMG_EXTENSIONS)}){hint}")
        out += found
    return out


def predict(model: nn.Module, images: Sequence[str | os.PathLike[str]], *, topk: int = 5) -> list[dict[str, Any]]:
    """Top-k classes and probabilities for image files, with the weights' own preprocessing.

    ``model`` comes from ``cnnzoo.create_model(name, pretrained=...)``: its
    ``pretrained_cfg`` gives the preprocessing and the class names (``label_names``).
    A folder stands for its image files (:func:`image_files`). Returns one
    ``{"image", "top": [{"index", "label", "prob"}, ...]}`` per file.
    """
    cfg = _cfg(model)
    check_count("topk", topk)
    if not images:
        raise InvalidArgumentError("give at least one image file")
    images = image_files(images)
    labels = cfg.get("label_names")
    param = next(model.parameters())
    batch = torch.stack([preprocess(p, cfg)[0] for p in images]).to(param.device, param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            probs = torch.softmax(model(batch).float(), dim=1).cpu()
    finally:
        model.train(was_training)
    _require_finite(probs, model, images)
    k = min(topk, probs.shape[1])
    top_p, top_i = probs.topk(k, dim=1)
    results = []
    for path, ps, idx in zip(images, top_p.tolist(), top_i.tolist()):
        top = [{"index": i, "label": labels[i] if labels and i < len(labels) else str(i), "prob": p}
               for p, i in zip(ps, idx)]
        results.append({"image": str(path), "top": top})
    return results


def _require_finite(probs: torch.Tensor, model: nn.Module, images: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse to report NaN probabilities as a prediction: name the first image and say why."""
    bad = (~torch.isfinite(probs).all(dim=1)).nonzero().flatten().tolist()
    if not bad:
        return
    from ..training.guards import nonfinite_tensors  # only on this rare path: training is a heavy import

    weights = sum(1 for t in model.state_dict().values() if t.is_floating_point())
    broken = len(nonfinite_tensors(model))
    cause = (f"{broken} of its {weights} weight tensors hold NaN or inf (a diverged run's checkpoint?)"
             if broken else "its weights are finite but its outputs overflow")
    raise WeightsError(f"the model gives NaN or infinite outputs for {images[bad[0]]}: {cause}; "
                       "use other weights (a run's best.pt from before it diverged, or retrain with a lower --lr)")


def _hot(s: torch.Tensor) -> torch.Tensor:
    # black -> red -> yellow -> white, the "hot" colour map of the saliency figures
    return torch.stack([(3 * s).clamp(0, 1), (3 * s - 1).clamp(0, 1), (3 * s - 2).clamp(0, 1)])


def _write_overlay(display: torch.Tensor, heat: torch.Tensor, output: str | os.PathLike[str]) -> Path:
    """The image beside it with ``heat`` (H x W, scaled to [0, 1] here) overlaid in the hot colour
    map; small inputs enlarged to at least 224 pixels high; PNG written atomically."""
    heat = heat.detach().float().cpu()
    heat = heat / heat.max() if heat.max() > 0 else heat
    rgb = display[:3] if display.shape[0] >= 3 else display[:1].expand(3, -1, -1)
    overlay = 0.45 * rgb + 0.55 * _hot(heat)
    picture = torch.cat([rgb, torch.ones(3, rgb.shape[1], 2), overlay], dim=2)
    scale = max(1, math.ceil(224 / picture.shape[1]))
    picture = picture.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    png = encode_png((picture * 255).round().clamp(0, 255).to(torch.uint8))
    return atomic_write(output_file(output), png)


def saliency_overlay(model: nn.Module, image: str | os.PathLike[str], output: str | os.PathLike[str], *,
                     target: int | None = None, smoothgrad_samples: int = 0) -> Path:
    """Write a PNG: the preprocessed image beside it with its gradient saliency overlaid.

    The map is :func:`cnnzoo.saliency` (Simonyan et al. 2014, Sec. 3.1) for ``target``
    (default: the predicted class), scaled to [0, 1] and shown in a hot colour map. Small
    inputs (LeNet's 32x32) are enlarged so the PNG is at least 224 pixels high. Written
    with Pillow (no matplotlib), atomically.
    """
    x, display = preprocess(image, _cfg(model))
    return _write_overlay(display, saliency(model, x, target=target, smoothgrad_samples=smoothgrad_samples), output)


def cam_overlay(model: nn.Module, image: str | os.PathLike[str], output: str | os.PathLike[str], *,
                target: int | None = None, layer: str | None = None) -> Path:
    """Write a PNG: the preprocessed image beside it with its Grad-CAM map overlaid.

    The map is :func:`cnnzoo.grad_cam` (Selvaraju et al. 2017) of ``layer`` (default the
    last stage larger than 1x1) for ``target`` (default: the predicted class), shown like
    :func:`saliency_overlay`'s.
    """
    x, display = preprocess(image, _cfg(model))
    return _write_overlay(display, grad_cam(model, x, target=target, layer=layer), output)


def _peek_checkpoint(path: str) -> dict[str, Any] | None:
    """A cnnzoo training checkpoint's model name and config (None for other weight files)."""
    if path.endswith(".safetensors"):
        return None
    try:  # memory-mapped: the tensors are not read
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a torch zip file: the weights loader will say what it is
        return None
    if isinstance(state, dict) and isinstance(state.get("model_name"), str):
        return {"model_name": state["model_name"], "config": state.get("config") or {}}
    return None


def load_model(model: str | None, pretrained: bool | str | None = True,
               model_args: dict[str, Any] | None = None) -> nn.Module:
    """A model with weights to predict with: ``pretrained`` is True (the default tag), a tag, a
    weights file, or a cnnzoo run's checkpoint (``runs/X/best.pt``).

    A run's checkpoint gives the model (``model`` may be None), its constructor arguments
    (``model_args`` add to them), its class names and the preprocessing the run evaluated
    with (see :func:`cnnzoo.create_model` with ``pretrained=PATH``).
    """
    from ..factory import create_model

    args = dict(model_args or {})
    if pretrained is True or pretrained is None:
        if model is None:
            raise InvalidArgumentError("give the model (--model NAME) or a run's checkpoint (--pretrained PATH)")
        return create_model(model, pretrained=True, **args)
    if pretrained is False:
        raise InvalidArgumentError("predict needs weights: pretrained must be True, a tag or a file")
    text = os.fspath(pretrained)
    if os.path.exists(text) or text.endswith((".pth", ".pt", ".safetensors", ".bin")):
        run = _peek_checkpoint(text) if os.path.isfile(text) else None
        if run is not None:
            model = model or run["model_name"]
            args = {**(run["config"].get("model_kwargs") or {}), **args}
        if model is None:
            raise InvalidArgumentError(f"{text} is not a cnnzoo run's checkpoint: give the model (--model NAME)")
        return create_model(model, pretrained=text, **args)
    if model is None:
        raise InvalidArgumentError("give the model (--model NAME) with a weight tag")
    base = model.partition(".")[0]
    tag = text[len(base) + 1:] if text.startswith(base + ".") else text  # the whole tag, as `weights list` prints it
    return create_model(f"{base}.{tag}", pretrained=True, **args)
