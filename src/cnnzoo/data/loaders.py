"""``--data`` specs to datasets and loaders: what a run trains and validates on."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import Dataset

from ..device import cpu_count
from ..errors import DataError, shown
from ..models.arguments import checked
from .feed import DecodeImages, DeviceTransform, ImageLoader, Normalize, collate_encoded
from .sampling import EpochSampler
from .sources import (
    SyntheticLoader,
    _class_folders,
    cifar_dataset,
    digits_dataset,
    imagefolder_dataset,
    mnist_dataset,
)
from .stats import data_kind, normalisation
from .transforms import build_transforms

__all__ = [
    "DataSpec",
    "parse_data_spec",
    "count_classes",
    "DataBundle",
    "build_data",
    "default_workers",
    "DECODES",
    "describe_data",
]

#: where image-folder files are decoded: in the loader's worker processes, or on the training GPU
DECODES = ("cpu", "gpu")


@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value: its kind and its folder (or sample count for synthetic)."""

    kind: str
    root: Path | None = None
    samples: int = 1024


@checked
def parse_data_spec(spec: str) -> DataSpec:
    """``digits`` | ``mnist:DIR`` | ``cifar10:DIR`` | ``cifar100:DIR`` | ``[imagefolder:]DIR`` | ``synthetic[:N]``."""
    kind = data_kind(spec)  # the one reading of the text, as for a recorded run's spec
    named, sep, rest = spec.partition(":")
    if kind == "digits":
        return DataSpec("digits")
    if kind == "synthetic":
        if not sep:
            return DataSpec("synthetic")
        if not rest.isdecimal() or len(rest) > 12 or int(rest) < 1:  # isdigit() passes "²", which int() refuses
            raise DataError(f"synthetic:N needs a positive number of images, at most 10^12, got {shown(rest)}")
        return DataSpec("synthetic", samples=int(rest))
    folder = rest if sep and named == kind else spec  # KIND:DIR, or an image folder DIR
    root = Path(folder).expanduser()
    if spec and root.is_dir():  # no text is no folder, though Path("") is the current one
        return DataSpec(kind, root)
    raise DataError(
        f"--data {spec!r}: {shown(folder)} is not a directory; use digits, mnist:DIR, "
        "cifar10:DIR, cifar100:DIR, an image folder DIR (with train/ and val/) or synthetic"
    )


def count_classes(spec: str | DataSpec, default: int = 1000) -> int:
    """The number of classes of a data spec (an image folder's class folders); synthetic: ``default``."""
    s = parse_data_spec(spec) if isinstance(spec, str) else spec
    if s.kind == "imagefolder":
        assert s.root is not None
        folder = s.root / "train" if (s.root / "train").is_dir() else s.root / _eval_split(s.root)
        return len(_class_folders(folder))
    return {"cifar100": 100, "synthetic": default}.get(s.kind, 10)


def _eval_split(root: Path) -> str:
    """The folder of an image folder's validation images: ``val/``, or, in a folder that has neither
    ``train/`` nor ``val/``, the folder itself (class folders to evaluate on: ``cnnzoo eval --data DIR``)."""
    return "val" if (root / "val").is_dir() or (root / "train").is_dir() else "."


@dataclass
class DataBundle:
    """The loaders of a run and what the model must match (classes, channels, size)."""

    train_loader: Any
    val_loader: Any
    num_classes: int
    in_chans: int
    image_size: int
    classes: list[str]
    kind: str
    skipped: list[str] = field(default_factory=list)  # undecodable images left out (bad_images="skip")


def _make_loader(
    ds: Dataset[Any],
    *,
    train: bool,
    batch_size: int,
    workers: int,
    seed: int,
    rank: int,
    world_size: int,
    device: torch.device,
    deterministic: bool,
    transform: DeviceTransform | None,
    encoded: bool = False,
) -> ImageLoader:
    # every source refuses an empty data set (an image folder without images, an IDX file of 0 images)
    n = len(ds)  # type: ignore[arg-type]
    sampler = EpochSampler(n, shuffle=train, seed=seed, rank=rank, world_size=world_size, pad=train)
    return ImageLoader(
        ds,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        # a last batch of a few images gives noisy BN statistics (and one image fails BN)
        drop_last=train and len(sampler) > batch_size,
        # pinned pages are copied to the GPU asynchronously; undecoded files are read by the decoder from
        # any memory, and pinning thousands of small tensors per second costs more than it saves
        pin_memory=device.type == "cuda" and not encoded,
        generator=sampler.generator,
        # persistent workers keep their RNG across epochs, which a resumed run cannot recreate
        persistent_workers=workers > 0 and not deterministic,
        collate_fn=collate_encoded if encoded else None,
        device_transform=transform,
    )


def build_data(
    spec: str | DataSpec,
    *,
    image_size: int,
    in_chans: int,
    batch_size: int,
    workers: int,
    device: torch.device,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    deterministic: bool = False,
    augment: str = "auto",
    auto_augment: str | None = None,
    random_erase: float = 0.0,
    val_resize: int | None = None,
    val_image_size: int | None = None,
    num_classes: int = 1000,
    train: bool = True,
    bad_images: str = "error",
    decode: str = "cpu",
) -> DataBundle:
    """Datasets and loaders for a ``--data`` spec (``train=False``: the validation loader only).

    Files (MNIST, CIFAR, image folders) are transformed to uint8 crops by the loader and
    normalised on ``device`` by the loaders' ``device_transform``
    (:class:`~cnnzoo.data.feed.Normalize`); the built-in digits are float model inputs in
    memory and synthetic batches are made on ``device``. ``decode="gpu"`` gives image
    folders' files undecoded and decodes them on ``device`` in batches (nvJPEG on CUDA),
    with the same transforms applied there (:class:`~cnnzoo.data.feed.DecodeImages`).
    ``num_classes`` is the synthetic data's; the others have their own. ``bad_images``
    is the image folders' (see :func:`imagefolder_dataset`).
    """
    s = parse_data_spec(spec) if isinstance(spec, str) else spec
    if decode != "cpu" and (decode != "gpu" or s.kind != "imagefolder"):  # one check of where files are decoded
        raise DataError(
            f"--decode {shown(decode)} with --data {s.kind}: --decode is cpu, or gpu for the JPEG files of "
            "image folders (other data is decoded already)"
        )
    val_size = val_image_size or image_size
    if s.kind == "synthetic":
        n_batches = max(1, s.samples // (batch_size * world_size))
        make = functools.partial(
            SyntheticLoader, in_chans=in_chans, num_classes=num_classes, device=device, batch_size=batch_size
        )
        return DataBundle(
            make(image_size=image_size, batches=n_batches, seed=seed + rank) if train else None,
            make(image_size=val_size, batches=max(1, n_batches // 4), seed=seed + rank + 1),
            num_classes,
            in_chans,
            image_size,
            [str(i) for i in range(num_classes)],
            "synthetic",
        )
    transforms: tuple[Any, Any] = (None, None)  # the loaders' device transforms (train, val)
    if s.kind == "digits":
        train_ds: Any = digits_dataset("train", image_size, in_chans) if train else None
        val_ds: Any = digits_dataset("val", val_size, in_chans)
    else:
        mean, std = normalisation(s.kind, in_chans)
        tf = functools.partial(
            build_transforms,
            s.kind,
            image_size=image_size,
            in_chans=in_chans,
            augment=augment,
            auto_augment=auto_augment,
            random_erase=random_erase,
            mean=mean,
            std=std,
            normalize=False,
        )
        train_tf = tf(True)
        val_tf = tf(False, image_size=val_size, val_resize=val_resize)
        transforms = (Normalize(mean, std), Normalize(mean, std))
        assert s.root is not None
        root = s.root
        if s.kind == "mnist":
            train_ds = mnist_dataset(root, "train", train_tf) if train else None
            val_ds = mnist_dataset(root, "val", val_tf)
        elif s.kind in ("cifar10", "cifar100"):
            k = int(s.kind[5:])
            train_ds = cifar_dataset(root, "train", k, train_tf) if train else None
            val_ds = cifar_dataset(root, "val", k, val_tf)
        else:
            folder = functools.partial(  # bad_images: a choice imagefolder_dataset's annotation checks
                imagefolder_dataset, root, in_chans=in_chans, bad_images=cast(Any, bad_images), encoded=decode == "gpu"
            )
            if decode == "gpu":  # the workers read files; decoding and transforms run on the device
                transforms = (DecodeImages(train_tf, mean, std, in_chans), DecodeImages(val_tf, mean, std, in_chans))
            val_ds = folder("val" if train else _eval_split(root), transform=val_tf)
            train_ds = folder("train", transform=train_tf) if train else None
            if train and train_ds.classes != val_ds.classes:
                raise DataError(
                    f"{s.root}: train/ and val/ have different class folders "
                    f"({len(train_ds.classes)} vs {len(val_ds.classes)})"
                )
    classes = list(val_ds.classes)
    common: dict[str, Any] = dict(
        batch_size=batch_size,
        workers=workers,
        seed=seed,
        rank=rank,
        world_size=world_size,
        device=device,
        deterministic=deterministic,
        encoded=decode == "gpu",
    )
    train_loader = _make_loader(train_ds, train=True, transform=transforms[0], **common) if train else None
    skipped = [*getattr(train_ds, "skipped", []), *getattr(val_ds, "skipped", [])]
    return DataBundle(
        train_loader,
        _make_loader(val_ds, train=False, transform=transforms[1], **common),
        len(classes),
        in_chans,
        image_size,
        classes,
        s.kind,
        skipped,
    )


def _images(loader: Any) -> int | None:
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset)  # type: ignore[arg-type]
    except TypeError:
        return None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}es" if noun.endswith("ch") else f"{n:,} {noun}s"


def describe_data(bundle: DataBundle) -> str:
    """One line on what a run trains on: images, classes, batches and what ``drop_last`` leaves out."""
    train, val = bundle.train_loader, bundle.val_loader
    classes = f"{bundle.num_classes:,} classes"
    if isinstance(train, SyntheticLoader):
        return (
            f"data: synthetic, {len(train)} batches of {train.batch_size} random images in {classes} per epoch "
            "(the same batch repeated)"
        )
    n, n_val = _images(train), _images(val)
    bs = int(getattr(train, "batch_size", 0) or 0)
    sampler = getattr(train, "sampler", None)
    world = int(getattr(sampler, "world_size", 1) or 1)
    per_process = len(sampler) if isinstance(sampler, EpochSampler) else n
    head = f"data: {n:,} training images in {classes}" if n is not None else f"data: {classes}"
    head += f", {n_val:,} validation images" if n_val is not None else ""
    if not bs or per_process is None:
        return head
    left, full = per_process % bs, per_process // bs
    where = " per process" if world > 1 else ""
    if left == 0:
        tail = f"{_count(full, 'batch')} of {bs}{where}, every image used each epoch"
    elif getattr(train, "drop_last", False):
        tail = (
            f"{_count(full, 'batch')} of {bs}{where}; drop_last leaves out {_count(left, 'image')}{where} "
            "each epoch (others each time: the order is reshuffled)"
        )
    else:
        tail = f"{_count(full + 1, 'batch')} of up to {bs}{where}, the last of {_count(left, 'image')}"
    return f"{head}; {tail}"


def default_workers(kind: str, device: torch.device, world_size: int = 1) -> int:
    """DataLoader worker processes per training process for a data kind."""
    if kind in ("digits", "synthetic"):  # already tensors in memory (or on the device)
        return 0
    cpus = max(1, cpu_count() // world_size)
    # on a GPU the workers feed it: every core but the one that drives the GPU (a core decodes
    # and crops ~700 ImageNet-sized JPEGs a second, benchmarks/RESULTS.md, so ResNet-50's
    # ~4,000 images/s on one H200 keep 6 or more busy); on a CPU they compete with the training
    return max(1, min(32, cpus - 1)) if device.type == "cuda" else min(4, cpus // 2)
