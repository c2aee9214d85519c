"""Normalisation statistics and the evaluation crop, each defined once for the whole package.

The per-channel mean and standard deviation of each data source (ImageNet's are the ones
torchvision and timm publish with their weights) and the 0.875 centre-crop ratio of the
ImageNet evaluation protocol (resize the shorter side to 256, crop 224: Krizhevsky et al.
2012, Sec. 4.1; Szegedy et al. 2014, Sec. 7), used by the weights catalogue, the model
defaults and the data pipelines alike; and how a training run prepares an image for
evaluation (:func:`eval_preprocessing`), which its checkpoint records.

It imports nothing of cnnzoo, so every layer may use it: the models (their default
``pretrained_cfg``), the weights (the catalogue's preprocessing) and the data pipelines
(:mod:`cnnzoo.data.stats` re-exports it) without loading one another.
"""

from __future__ import annotations

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "HALF_MEAN_STD",
    "DEFAULT_CROP_PCT",
    "FOLDER_KINDS",
    "normalisation",
    "data_kind",
    "eval_preprocessing",
]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
#: the built-in digits and MNIST: pixels in [0, 1] mapped to [-1, 1]
DIGITS_MEAN, DIGITS_STD = (0.5,), (0.5,)
#: Inception-style [-1, 1] inputs (timm's weights for several models)
HALF_MEAN_STD = (0.5, 0.5, 0.5)
#: the evaluation centre crop as a fraction of the resized image (224 / 256)
DEFAULT_CROP_PCT = 0.875
#: the ``--data`` kinds that name a folder (``KIND:DIR``)
FOLDER_KINDS = ("mnist", "cifar10", "cifar100", "imagefolder")


def normalisation(kind: str, in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std of a data kind for ``in_chans`` channels (one value for every channel when the
    images are converted between grey and colour)."""
    stats: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
        "cifar10": (CIFAR10_MEAN, CIFAR10_STD),
        "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
        "imagefolder": (IMAGENET_MEAN, IMAGENET_STD),
    }
    mean, std = stats.get(kind, (DIGITS_MEAN, DIGITS_STD))
    if len(mean) != in_chans:  # grey <-> colour conversion: one statistic for every channel
        mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
    return tuple(mean), tuple(std)


def data_kind(spec: str) -> str:
    """The kind of a ``--data`` spec (``digits``, ``mnist``, ``cifar10``, ``cifar100``, ``imagefolder``,
    ``synthetic``), read from the text alone (the folder need not exist: a recorded run's spec)."""
    kind, sep, _ = str(spec).partition(":")
    if (kind == "digits" and not sep) or kind == "synthetic" or (sep and kind in FOLDER_KINDS):
        return kind
    return "imagefolder"  # a bare folder, as `--data DIR` means


def eval_preprocessing(data: str, image_size: int, in_chans: int, val_resize: int | None = None) -> dict[str, object]:
    """How a run trained on ``data`` prepares an image for evaluation, as ``pretrained_cfg`` entries.

    Image folders: the shorter side resized to ``val_resize`` (default ``image_size / 0.875``),
    then the centre ``image_size`` crop (``crop_mode="center"``); the small-image sources
    (digits, MNIST, CIFAR): the whole image resized to ``image_size`` x ``image_size``, no
    crop (``crop_mode="squash"``, timm's name). Mean and std are the source's
    (:func:`normalisation`). This is what :func:`cnnzoo.data.build_transforms` does for
    evaluation, so that ``cnnzoo predict`` with a run's checkpoint sees images as the run did.
    """
    kind = data_kind(data)
    mean, std = normalisation(kind, in_chans)
    cfg: dict[str, object] = {
        "input_size": (in_chans, image_size, image_size),
        "mean": mean,
        "std": std,
        "interpolation": "bilinear",
    }
    if kind == "imagefolder":
        resize = val_resize or int(round(image_size / DEFAULT_CROP_PCT))
        cfg.update(resize_size=resize, crop_pct=image_size / resize, crop_mode="center")
    else:
        cfg.update(resize_size=image_size, crop_pct=1.0, crop_mode="squash")
    return cfg
