"""From a decoded image to a model input: torchvision transforms v2 pipelines and sizes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import DataError
from .decode import check_resized
from .stats import DEFAULT_CROP_PCT, DIGITS_MEAN, DIGITS_STD

__all__ = ["MatchChannels", "build_transforms", "default_image_size"]


class MatchChannels(torch.nn.Module):
    """Repeat a grey channel to ``in_chans``, or average RGB to grey (ITU-R 601 weights)."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.in_chans = in_chans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[-3]
        if c == self.in_chans:
            return x
        if c == 1:
            return x.expand(*x.shape[:-3], self.in_chans, *x.shape[-2:]).contiguous()
        if c == 3 and self.in_chans == 1:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=x.device).view(3, 1, 1)
            grey = (x.float() * w).sum(-3, keepdim=True)
            return grey.to(x.dtype) if x.is_floating_point() else grey.round_().to(x.dtype)
        raise DataError(f"cannot turn {c}-channel images into the model's {self.in_chans} channels")


def default_image_size(kind: str, input_size: int, min_size: int, fixed: bool) -> int:
    """The training resolution when none is given.

    A network tied to one size (LeNet-5's C5, AlexNet's fc6) gets its own. Small images
    (digits 8x8, MNIST 28x28, CIFAR 32x32) are trained at 32x32 (at least the network's
    minimum): upsampling them to 224 costs 50x the compute and adds no information.
    Image folders and synthetic data use the network's input size.
    """
    if fixed:
        return input_size
    if kind in ("digits", "mnist", "cifar10", "cifar100"):
        return max(min(input_size, 32), min_size)
    return input_size


def build_transforms(
    kind: str,
    train: bool,
    *,
    image_size: int,
    in_chans: int,
    augment: str = "auto",
    auto_augment: str | None = None,
    random_erase: float = 0.0,
    val_resize: int | None = None,
    mean: Sequence[float] = DIGITS_MEAN,
    std: Sequence[float] = DIGITS_STD,
    normalize: bool = True,
) -> Callable[..., Any]:
    """The torchvision v2 pipeline from a uint8 image to a normalised float tensor (or a uint8 crop).

    ``augment="auto"``: none for MNIST, random crop with 4-pixel padding + flip for CIFAR
    (He et al. 2015, Sec. 4.2), RandomResizedCrop + flip for image folders (Szegedy et al.
    2014, Sec. 6; the torchvision recipes). Evaluation resizes and center-crops (image
    folders, ``val_resize`` defaulting to ``image_size / 0.875``) or just resizes.
    ``normalize=False`` ends at the uint8 crop, which :class:`~cnnzoo.data.feed.Normalize`
    converts on the device (what :func:`~cnnzoo.data.build_data` does); random erasing then
    fills with the mean colour, which is what its 0 is after normalisation.
    """
    from torchvision.transforms import v2

    if augment == "auto":
        augment = {"cifar10": "crop_flip", "cifar100": "crop_flip", "imagefolder": "rrc_flip"}.get(kind, "none")
    steps: list[Any] = []
    native = {"mnist": 28, "cifar10": 32, "cifar100": 32}.get(kind)
    if train and augment == "rrc_flip":
        steps += [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()]
    elif train and augment == "crop_flip":
        if native != image_size:
            steps.append(v2.Resize((image_size, image_size), antialias=True))
        steps += [v2.RandomCrop(image_size, padding=max(1, image_size // 8)), v2.RandomHorizontalFlip()]
    elif kind == "imagefolder":
        resize = val_resize or int(round(image_size / DEFAULT_CROP_PCT))
        steps += [
            functools.partial(check_resized, size=resize),
            v2.Resize(resize, antialias=True),
            v2.CenterCrop(image_size),
        ]
    elif native != image_size:
        steps.append(v2.Resize((image_size, image_size), antialias=True))
    if train and auto_augment:
        steps.append(
            {"ta_wide": v2.TrivialAugmentWide, "randaugment": v2.RandAugment, "autoaugment": v2.AutoAugment}[
                auto_augment
            ]()
        )
    steps.append(MatchChannels(in_chans))
    if normalize:
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if train and random_erase > 0:  # Zhong et al. 2017, torchvision's defaults (scale 0.02-0.33, ratio 0.3-3.3)
        steps.append(v2.RandomErasing(p=random_erase, value=0 if normalize else [round(255 * m) for m in mean]))
    return v2.Compose(steps)
