"""Classify image files as the weights were evaluated, and show where the model looked.

:func:`preprocess` reads an image with ``torchvision.io`` and prepares it with the
weights' own ``pretrained_cfg`` (resize, centre crop, channels, mean/std); :func:`predict`
gives the top classes; :func:`saliency_overlay` and :func:`cam_overlay` write the image
beside its gradient saliency or Grad-CAM map; :func:`load_model` takes weights from the
catalogue, a file or a run's checkpoint (with that run's classes and preprocessing).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from torch import nn

from ..analysis.cam import default_cam_layer, grad_cam
from ..analysis.saliency import saliency
from ..atomic import atomic_write, output_file
from ..data.decode import check_resized, read_image
from ..errors import DataError, InvalidArgumentError, WeightsError
from ..limits import check_input_size
from ..models.arguments import Count, NonEmpty, NonNegative, Whole, checked
from ..reading import walk_files
from ..weights.checkpoint import check_joins
from ..weights.checkpoint import checked as checked_run
from ..weights.files import read_weights_file
from .arguments import PathArg

__all__ = [
    "preprocess",
    "predict",
    "image_files",
    "saliency_overlay",
    "cam_overlay",
    "explanation_figure",
    "map_on_original",
    "load_model",
]


def _cfg(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None)
    if not cfg or "input_size" not in cfg:
        raise InvalidArgumentError(
            "the model has no pretrained_cfg with its preprocessing; build it "
            "with cnnzoo.create_model(name, pretrained=...)"
        )
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
            hint = (
                (
                    f"; it holds folders ({', '.join(subs[:3])}{', ...' if len(subs) > 3 else ''}): give one of "
                    f"them, or evaluate a folder of class folders with cnnzoo eval --data {folder}"
                )
                if subs
                else ""
            )
            raise DataError(f"{folder} is a directory with no image files ({' '.join(IMG_EXTENSIONS)}){hint}")
        out += found
    return out


@checked
def predict(
    model: nn.Module, images: Annotated[Sequence[PathArg], NonEmpty], *, topk: Count = 5
) -> list[dict[str, Any]]:
    """Top-k classes and probabilities for image files, with the weights' own preprocessing.

    ``model`` comes from ``cnnzoo.create_model(name, pretrained=...)``: its
    ``pretrained_cfg`` gives the preprocessing and the class names (``label_names``).
    A folder stands for its image files (:func:`image_files`). Returns one
    ``{"image", "top": [{"index", "label", "prob"}, ...]}`` per file.
    """
    cfg = _cfg(model)
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
        top = [
            {"index": i, "label": labels[i] if labels and i < len(labels) else str(i), "prob": p}
            for p, i in zip(ps, idx)
        ]
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
    cause = (
        f"{broken} of its {weights} weight tensors hold NaN or inf (a diverged run's checkpoint?)"
        if broken
        else "its weights are finite but its outputs overflow"
    )
    raise WeightsError(
        f"the model gives NaN or infinite outputs for {images[bad[0]]}: {cause}; "
        "use other weights (a run's best.pt from before it diverged, or retrain with a lower --lr)"
    )


def _crop_box(height: int, width: int, cfg: dict[str, Any]) -> tuple[float, float, float, float]:
    """Where the model's input lies in the original image: ``(top, left, height, width)`` in its pixels.

    The inverse of :func:`preprocess`'s geometry: the whole image when it is squashed to the
    input size; otherwise the centre crop of the resized image (torchvision's ``resize`` and
    ``center_crop`` rounding), scaled back by the resize factor of each axis.
    """
    _, crop_h, crop_w = cfg["input_size"]
    if cfg.get("crop_mode") == "squash":
        return 0.0, 0.0, float(height), float(width)
    resize = cfg.get("resize_size") or int(math.floor(crop_h / float(cfg.get("crop_pct") or 1.0)))
    size = [resize] if isinstance(resize, int) else list(resize)
    if len(size) == 2:
        rh, rw = size
    else:  # the shorter side to the size, the longer in proportion (truncated, as torchvision's resize)
        short, long = sorted((height, width))
        new_long = int(size[0] * long / short)
        rh, rw = (size[0], new_long) if height <= width else (new_long, size[0])
    top, left = int(round((rh - crop_h) / 2.0)), int(round((rw - crop_w) / 2.0))
    sy, sx = height / rh, width / rw
    return top * sy, left * sx, crop_h * sy, crop_w * sx


def map_on_original(heat: torch.Tensor, original_size: Sequence[int], cfg: dict[str, Any]) -> torch.Tensor:
    """A map over the model's input (H x W) resized back onto the original image (h x w).

    The map is resized bilinearly to the part of the original image the model saw (see
    :func:`preprocess`: the centre crop, or the whole image when squashed); the pixels
    outside that crop, which the model never saw, are NaN.
    """
    height, width = (int(v) for v in original_size)
    top, left, box_h, box_w = _crop_box(height, width, cfg)
    y0, x0 = int(round(top)), int(round(left))
    bh, bw = max(1, min(height - y0, int(round(box_h)))), max(1, min(width - x0, int(round(box_w))))
    inside = torch.nn.functional.interpolate(
        heat.detach().float().cpu()[None, None], size=(bh, bw), mode="bilinear", align_corners=False
    )[0, 0]
    out = torch.full((height, width), float("nan"))
    out[y0 : y0 + bh, x0 : x0 + bw] = inside
    return out


def _caption(model: nn.Module, logits: torch.Tensor, target: int | None) -> tuple[str, dict[str, Any]]:
    """The figure's title: model and weights, predicted class and probability, the explained class."""
    cfg = _cfg(model)
    labels = cfg.get("label_names") or []

    def name(i: int) -> str:
        return f"{labels[i]} (class {i})" if i < len(labels) and labels[i] != str(i) else f"class {i}"

    probs = torch.softmax(logits.detach().float().cpu().reshape(-1), dim=0)
    pred = int(probs.argmax())
    tag = cfg.get("tag")
    weights = f"weights {tag}" if tag else "RANDOM WEIGHTS (untrained): the map shows the method, not a learnt model"
    meta = {
        "model": cfg.get("architecture") or type(model).__name__,
        "weights": tag,
        "predicted": pred,
        "predicted_label": name(pred),
        "score": float(probs[pred]),
        "target": target,
        "target_label": None if target is None else name(target),
    }
    text = f"{meta['model']}, {weights}\npredicted: {name(pred)}, p = {meta['score']:.3f}"
    if target is not None and target != pred:
        text += f"; explained class: {name(target)}, p = {float(probs[target]):.3f}"
    elif target is not None:
        text += "; explained class: the predicted one"
    return text, meta


@checked
def explanation_figure(
    model: nn.Module,
    image: PathArg,
    method: Literal["cam", "saliency"] = "cam",
    *,
    target: int | None = None,
    layer: str | None = None,
    smoothgrad_samples: Whole = 16,
    blur: NonNegative = 1.0,
) -> Any:
    """A slide-ready matplotlib figure: the original image, and the map drawn on it with a colour bar.

    ``method`` is ``"cam"`` (:func:`cnnzoo.grad_cam` of ``layer``, Selvaraju et al. 2017) or
    ``"saliency"`` (:func:`cnnzoo.saliency`, Simonyan et al. 2014, averaged over
    ``smoothgrad_samples`` noisy copies and blurred by ``blur`` input pixels: the raw gradient
    through strided convolutions is a checkerboard, Odena et al. 2016, and noisy; SmoothGrad,
    Smilkov et al. 2017, and a small blur remove both). The map is computed on the model's
    preprocessed input and resized back onto the user's image (:func:`map_on_original`; the
    part the centre crop left out is outlined and not coloured). The overlay's opacity
    follows the map, so that the photo stays visible where the map is low. The title says
    the model, its weights, the predicted class and its probability, and the class explained
    (``target``, default the predicted one). ``fig.cnnzoo_meta`` holds those values.
    """
    from .chart import _figure_class

    Figure = _figure_class()
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    cfg = _cfg(model)
    x, _ = preprocess(image, cfg)
    chans = cfg["input_size"][0]
    original = read_image(image, 1 if chans == 1 else 3).float().div(255.0)
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x[None].to(param.device, param.dtype))
    finally:
        model.train(was_training)
    if method == "cam":
        heat = grad_cam(model, x, target=target, layer=layer)
        what = f"Grad-CAM of {layer or default_cam_layer(model, tuple(x.shape))} (Selvaraju et al. 2017)"
        bar = "Grad-CAM, relative to its peak"
    else:
        heat = saliency(model, x, target=target, smoothgrad_samples=smoothgrad_samples, blur=blur)
        what = (
            f"gradient saliency (Simonyan et al. 2014), SmoothGrad over {smoothgrad_samples} noisy copies "
            f"(Smilkov et al. 2017), blur {blur:g} px"
            if smoothgrad_samples
            else f"gradient saliency (Simonyan et al. 2014), blur {blur:g} px"
        )
        bar = "|d score / d pixel|, relative to its peak"
    heat = heat.detach().float().cpu()
    heat = heat / heat.max() if heat.max() > 0 else heat
    height, width = original.shape[1:]
    full = map_on_original(heat, (height, width), cfg)
    caption, meta = _caption(model, logits, target)
    cmap = colormaps["inferno" if method == "cam" else "viridis"]
    rgba = cmap(torch.nan_to_num(full, nan=0.0).numpy())
    # opacity grows with the map (0 where it is 0, at most 0.85), so the photo is not washed out
    rgba[..., 3] = (0.85 * torch.nan_to_num(full, nan=0.0).clamp(0, 1)).numpy()
    photo = original.permute(1, 2, 0).numpy()
    grey = photo.shape[2] == 1
    aspect = width / height
    fig = Figure(figsize=(2 * 4.0 * aspect + 1.6, 4.0 + 1.3), dpi=100, layout="constrained")
    ax_img, ax_map = fig.subplots(1, 2)
    # under the map the photo is in grey: its own colours would read as map values
    luma = photo[..., 0] if grey else photo @ [0.299, 0.587, 0.114]
    for ax, shown in ((ax_img, photo[..., 0] if grey else photo), (ax_map, luma)):
        ax.imshow(
            shown,
            cmap="gray" if shown.ndim == 2 else None,
            vmin=0,
            vmax=1,
            interpolation="nearest" if max(height, width) < 100 else "antialiased",
        )
        ax.set_xticks([])
        ax.set_yticks([])
    ax_img.set_title(f"the image ({width} x {height} px)", fontsize=10)
    ax_map.imshow(rgba, interpolation="bilinear")
    top, left, box_h, box_w = _crop_box(height, width, cfg)
    if box_h < height - 0.5 or box_w < width - 0.5:
        ax_map.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5), box_w, box_h, fill=False, edgecolor="white", linestyle="--", linewidth=1.2
            )
        )
        ax_map.set_title("the map on the image in grey (dashed: the centre crop the model saw)", fontsize=10)
    else:
        ax_map.set_title("the map on the image" + ("" if grey else " in grey"), fontsize=10)
    colorbar = fig.colorbar(ScalarMappable(norm=Normalize(0, 1), cmap=cmap), ax=ax_map, fraction=0.05, pad=0.02)
    colorbar.set_label(bar, fontsize=9)
    fig.suptitle(caption + "\n" + what, fontsize=10)
    fig.cnnzoo_meta = {**meta, "method": method, "colorbar": colorbar}
    return fig


def _save_figure(fig: Any, output: str | os.PathLike[str]) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    from PIL import Image

    buf.seek(0)
    # 256 colours chosen for this picture, then Floyd-Steinberg dithered: half the bytes of full
    # RGB with no visible banding, so that a photo's figure stays small enough for slides and docs
    rgb = Image.open(buf).convert("RGB")
    small = io.BytesIO()
    rgb.quantize(palette=rgb.quantize(256, kmeans=2), dither=Image.Dither.FLOYDSTEINBERG).save(
        small, format="PNG", optimize=True
    )
    return atomic_write(output_file(output), small.getvalue())


@checked
def saliency_overlay(
    model: nn.Module,
    image: PathArg,
    output: PathArg,
    *,
    target: int | None = None,
    smoothgrad_samples: Whole = 16,
    blur: NonNegative = 1.0,
) -> Path:
    """Write a PNG: the original image beside it with its gradient saliency drawn on it.

    See :func:`explanation_figure` (``method="saliency"``): SmoothGrad over
    ``smoothgrad_samples`` noisy copies and a Gaussian blur of ``blur`` input pixels, a
    colour bar, and a caption with the model, the predicted class, its probability and the
    explained class (``target``, default the predicted one). Needs matplotlib; written atomically.
    """
    fig = explanation_figure(model, image, "saliency", target=target, smoothgrad_samples=smoothgrad_samples, blur=blur)
    return _save_figure(fig, output)


@checked
def cam_overlay(
    model: nn.Module,
    image: PathArg,
    output: PathArg,
    *,
    target: int | None = None,
    layer: str | None = None,
) -> Path:
    """Write a PNG: the original image beside it with its Grad-CAM map drawn on it.

    See :func:`explanation_figure` (``method="cam"``): :func:`cnnzoo.grad_cam` of ``layer``
    (default the last stage larger than 1x1) for ``target`` (default: the predicted class),
    with a colour bar and a caption. Needs matplotlib; written atomically.
    """
    return _save_figure(explanation_figure(model, image, "cam", target=target, layer=layer), output)


def load_model(
    model: str | None, pretrained: bool | str | None = True, model_args: dict[str, Any] | None = None
) -> nn.Module:
    """A model with weights to predict with: ``pretrained`` is True (the default tag), a tag, a
    weights file, or a cnnzoo run's checkpoint (``runs/X/best.pt``).

    A run's checkpoint gives the model (``model`` may be None), its constructor arguments
    (``model_args`` add to them), its class names and the preprocessing the run evaluated
    with (see :func:`cnnzoo.create_model` with ``pretrained=PATH``).
    """
    from ..factory import create_model

    if pretrained is False:
        raise InvalidArgumentError("predict needs weights: pretrained must be True, a tag or a file")
    args = dict(model_args or {})
    text = None if pretrained is True or pretrained is None else os.fspath(pretrained)
    is_file = text is not None and (os.path.exists(text) or text.endswith((".pth", ".pt", ".safetensors", ".bin")))
    # a cnnzoo run's checkpoint is checked as every reader of one checks it; other weights go to create_model
    run = checked_run(read_weights_file(text), text) if text is not None and os.path.isfile(text) else None
    if run is not None:
        check_joins(run, text, model=model, num_classes=args.get("num_classes"), in_chans=args.get("in_chans"))
        model = model or run["model_name"]
        args = {**(run["config"].get("model_kwargs") or {}), **args}
    if model is None:  # the default weights, a tag and a file that is not a run's checkpoint name no model
        what = f"{text} is not a cnnzoo run's checkpoint: give" if is_file else "give"
        raise InvalidArgumentError(f"{what} the model (--model NAME) or a run's checkpoint (--pretrained PATH)")
    if text is None or is_file:
        return create_model(model, pretrained=True if text is None else text, **args)
    base = model.partition(".")[0]
    tag = text[len(base) + 1 :] if text.startswith(base + ".") else text  # the whole tag, as `weights list` prints it
    return create_model(f"{base}.{tag}", pretrained=True, **args)
