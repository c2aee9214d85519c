"""Training data: the built-in digits, MNIST and CIFAR files, image folders, synthetic batches.

``--data`` specs: ``digits`` (the default: scikit-learn's 1,797 real 8x8 handwritten digits,
no download), ``mnist:DIR`` (the IDX files, gzipped or not), ``cifar10:DIR`` /
``cifar100:DIR`` (the python batches, read with a restricted unpickler), ``DIR`` or
``imagefolder:DIR`` (``DIR/train/<class>/*`` and ``DIR/val/<class>/*``) and ``synthetic``
(random batches made on the device, for throughput). File formats are read here without
torchvision's download-oriented dataset classes, so the files can sit in any folder.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import math
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .errors import DataError

__all__ = ["digits_dataset", "mnist_dataset", "cifar_dataset", "imagefolder_dataset", "DataSpec",
           "parse_data_spec", "count_classes", "default_image_size", "build_transforms", "EpochSampler",
           "SyntheticLoader", "ImageDataset", "DataBundle", "build_data", "read_idx", "read_cifar_batch", "DIGITS_MEAN",
           "DIGITS_STD"]

DIGITS_MEAN, DIGITS_STD = (0.5,), (0.5,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_KINDS = ("digits", "mnist", "cifar10", "cifar100", "imagefolder", "synthetic")


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images held in one (N, C, H, W) tensor with integer labels and an optional transform.

    ``images``, ``labels`` (int64) and ``classes`` are public: the whole set at once, e.g.
    ``model(ds.images)`` for the preprocessed digits (the transform is per item only).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.classes, self.transform = images, labels, list(classes), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        return (self.transform(x) if self.transform is not None else x), int(self.labels[i])


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
            w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(3, 1, 1)
            return (x.float() * w).sum(-3, keepdim=True).to(x.dtype)
        raise DataError(f"cannot turn {c}-channel images into the model's {self.in_chans} channels")


# ---------------------------------------------------------------- digits (built in)
@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def digits_dataset(split: str = "train", image_size: int = 32, in_chans: int = 1) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits, preprocessed, as a dataset of float tensors.

    The split is fixed: ``perm = numpy.random.default_rng(0).permutation(1797)``, val is
    ``perm[:360]``, train ``perm[360:]`` (the shipped ``lenet5.digits`` weights use it).
    Pixels are scaled by 1/16 to [0, 1] (digits are light on dark), resized bilinearly
    with antialiasing to ``image_size``, repeated to ``in_chans`` and normalised with mean
    0.5 / std 0.5. Source: the UCI optical recognition of handwritten digits data
    (Alpaydin & Kaynak 1998), as shipped by ``sklearn.datasets.load_digits``.
    """
    if split not in ("train", "val"):
        raise DataError(f"digits split must be 'train' or 'val', got {split!r}")
    if not isinstance(image_size, int) or image_size < 1 or not isinstance(in_chans, int) or in_chans < 1:
        raise DataError(f"image_size and in_chans must be positive integers, got {image_size!r}, {in_chans!r}")
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    images, target = _load_digits()
    perm = np.random.default_rng(0).permutation(len(images))
    idx = perm[:360] if split == "val" else perm[360:]
    x = torch.from_numpy(images[idx]).float().div_(16.0).unsqueeze(1)  # N x 1 x 8 x 8 in [0, 1]
    if image_size != 8:
        x = F.resize(x, [image_size, image_size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    x = (x - DIGITS_MEAN[0]) / DIGITS_STD[0]
    x = x.repeat(1, in_chans, 1, 1) if in_chans != 1 else x.contiguous()
    return ImageDataset(x, torch.from_numpy(target[idx]).long(), [str(i) for i in range(10)])


# ---------------------------------------------------------------- MNIST (IDX files)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not, checking its header.

    Format: two zero bytes, a type byte (0x08 = unsigned byte ...), the number of
    dimensions, then each dimension as a big-endian int32, then the data.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read IDX file {p}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{p} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{p}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{p}: IDX header says {dims} ({expected} bytes) but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find_file(root: Path, names: Sequence[str], what: str) -> Path:
    for base in (root, root / "raw", root / "MNIST" / "raw"):
        for name in names:
            for candidate in (base / name, base / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
    raise DataError(f"no {what} under {root} (looked for {names[0]}[.gz], also in raw/ and MNIST/raw/)")


def mnist_dataset(root: str | os.PathLike[str], split: str = "train",
                  transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> ImageDataset:
    """MNIST from its four IDX files in ``root`` (``train-images-idx3-ubyte`` ...; ``.gz`` too).

    Images are kept as uint8 (N, 1, 28, 28); ``transform`` turns one into a model input.
    LeCun et al. 1998, "Gradient-based learning applied to document recognition".
    """
    r = Path(root)
    prefix = {"train": "train", "val": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"mnist split must be 'train' or 'val', got {split!r}")
    img_file = _find_file(r, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"], f"MNIST {split} images")
    lbl_file = _find_file(r, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"], f"MNIST {split} labels")
    images, labels = read_idx(img_file), read_idx(lbl_file)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{img_file}/{lbl_file}: expected uint8 images N x H x W and labels N, "
                        f"got {images.shape} {images.dtype} and {labels.shape}")
    if len(images) != len(labels) or len(images) == 0:
        raise DataError(f"{img_file} has {len(images)} images but {lbl_file} has {len(labels)} labels")
    if labels.max() > 9:
        raise DataError(f"{lbl_file}: label {labels.max()} is not a digit")
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    return ImageDataset(x, torch.from_numpy(labels.astype(np.int64)), [str(i) for i in range(10)], transform)


# ---------------------------------------------------------------- CIFAR (python batches)
def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1"); allow only that
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("only latin1 text may be encoded")
    return text.encode("latin1")


def _numpy_attr(module: str, name: str) -> Any:
    import importlib

    try:  # numpy >= 2 moved numpy.core to numpy._core (the old name warns)
        mod = importlib.import_module(f"numpy._core.{module}")
    except ImportError:
        mod = importlib.import_module(f"numpy.core.{module}")
    return getattr(mod, name)


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, str/bytes/numbers and numpy arrays, nothing else.

    ``pickle.load`` would call any importable function a file names, so a crafted batch
    file could run code. The CIFAR batches need only numpy's array reconstruction (plus
    ``_codecs.encode`` for Python 3 protocol-2 bytes); every other global is refused.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            return _numpy_attr("multiarray", "_reconstruct")
        if (module, name) in (("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")):
            return _numpy_attr("numeric", "_frombuffer")
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) == ("builtins", "bytearray"):
            return bytearray
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def read_cifar_batch(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one CIFAR python batch safely; returns ``{"data": uint8 N x 3072, "labels": ...}``."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            obj = _CifarUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"cannot read CIFAR batch {p}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{p} is not a valid CIFAR batch ({e}); it was not loaded") from None
    if not isinstance(obj, dict):
        raise DataError(f"{p} is not a CIFAR batch (a {type(obj).__name__}, not a dict)")
    batch = {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}
    data = batch.get("data")
    labels = batch.get("labels", batch.get("fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{p}: 'data' must be a uint8 array N x 3072")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise DataError(f"{p}: expected {len(data)} labels")
    return {"data": data, "labels": np.asarray(labels, dtype=np.int64)}


def cifar_dataset(root: str | os.PathLike[str], split: str = "train", num_classes: int = 10,
                  transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> ImageDataset:
    """CIFAR-10/100 from the python batches in ``root`` (or its ``cifar-10-batches-py``).

    CIFAR-10: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; CIFAR-100:
    ``train`` and ``test``. Krizhevsky 2009, "Learning Multiple Layers of Features from
    Tiny Images". Images are uint8 (N, 3, 32, 32).
    """
    if split not in ("train", "val") or num_classes not in (10, 100):
        raise DataError(f"cifar split must be train/val and num_classes 10/100, got {split!r}, {num_classes!r}")
    r = Path(root)
    sub = "cifar-10-batches-py" if num_classes == 10 else "cifar-100-python"
    if (r / sub).is_dir():
        r = r / sub
    if num_classes == 10:
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    else:
        names = ["train"] if split == "train" else ["test"]
    missing = [n for n in names if not (r / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-{num_classes} files {', '.join(missing)} not found in {r}; extract the "
                        "python version of the dataset there (cifar-*-python.tar.gz)")
    batches = [read_cifar_batch(r / n) for n in names]
    data = np.concatenate([b["data"] for b in batches])
    labels = np.concatenate([b["labels"] for b in batches])
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"CIFAR-{num_classes} labels in {r} fall outside 0..{num_classes - 1}")
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return ImageDataset(x, torch.from_numpy(labels), [str(i) for i in range(num_classes)], transform)


# ---------------------------------------------------------------- image folders
def _decode(path: str, mode: Any) -> torch.Tensor:
    import warnings

    from torchvision.io import decode_image, read_file

    with warnings.catch_warnings():
        # torchvision 0.29 announces that torchcodec will take over image decoding; until
        # it does, torchvision.io is the decoder every torchvision install has
        warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
        try:
            return decode_image(read_file(path), mode=mode)
        except RuntimeError as e:
            raise DataError(f"cannot decode image {path}: {str(e).strip().splitlines()[-1].split(', ')[-1]}; "
                            "replace or delete it, or train with --bad-images skip") from None


def imagefolder_dataset(root: str | os.PathLike[str], split: str = "train", in_chans: int = 3,
                        transform: Callable[[torch.Tensor], torch.Tensor] | None = None, *,
                        bad_images: str = "error") -> Dataset[Any]:
    """``root/<split>/<class>/<image>`` via torchvision's ImageFolder, decoded by torchvision.io.

    ``bad_images="error"`` (default) stops at the first file that cannot be decoded, with
    a :class:`DataError` naming it; ``"skip"`` decodes every file once here, leaves out
    those that fail and lists them in the dataset's ``skipped`` attribute.
    """
    if bad_images not in ("error", "skip"):
        raise DataError(f"bad_images must be 'error' or 'skip', got {bad_images!r}")
    from torchvision.datasets import ImageFolder
    from torchvision.io import ImageReadMode

    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist; expected {root}/train/<class>/ and {root}/val/<class>/")
    mode = ImageReadMode.GRAY if in_chans == 1 else ImageReadMode.RGB
    try:
        ds = ImageFolder(str(folder), transform=transform, loader=functools.partial(_decode, mode=mode))
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"{folder}: {e}; put images in its class folders") from None
    ds.skipped = []  # type: ignore[attr-defined]
    if bad_images == "skip":
        good = []
        for path, target in ds.samples:
            try:
                _decode(path, mode)
            except DataError:
                ds.skipped.append(path)  # type: ignore[attr-defined]
            else:
                good.append((path, target))
        if not good:
            raise DataError(f"{folder}: none of its {len(ds.samples)} images can be decoded")
        ds.samples = ds.imgs = good
        ds.targets = [t for _, t in good]
    return ds


# ---------------------------------------------------------------- specs and sizes
@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` value: its kind and its folder (or sample count for synthetic)."""

    kind: str
    root: Path | None = None
    samples: int = 1024


def parse_data_spec(spec: str) -> DataSpec:
    """``digits`` | ``mnist:DIR`` | ``cifar10:DIR`` | ``cifar100:DIR`` | ``[imagefolder:]DIR`` | ``synthetic[:N]``."""
    if not isinstance(spec, str) or not spec:
        raise DataError("--data must be digits, mnist:DIR, cifar10:DIR, cifar100:DIR, DIR or synthetic")
    kind, sep, rest = spec.partition(":")
    if kind == "digits" and not sep:
        return DataSpec("digits")
    if kind == "synthetic":
        if not sep:
            return DataSpec("synthetic")
        if not rest.isdigit() or int(rest) < 1:
            raise DataError(f"synthetic:N needs a positive number of images, got {rest!r}")
        return DataSpec("synthetic", samples=int(rest))
    if kind in ("mnist", "cifar10", "cifar100", "imagefolder") and sep:
        root = Path(rest).expanduser()
        if not root.is_dir():
            raise DataError(f"--data {spec}: {root} is not a directory")
        return DataSpec(kind, root)
    root = Path(spec).expanduser()
    if root.is_dir():
        return DataSpec("imagefolder", root)
    raise DataError(f"--data {spec!r} is neither a data kind nor a directory; use digits, mnist:DIR, "
                    "cifar10:DIR, cifar100:DIR, an image folder DIR (with train/ and val/) or synthetic")


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


def count_classes(spec: str | DataSpec, default: int = 1000) -> int:
    """The number of classes of a data spec (an image folder's class folders); synthetic: ``default``."""
    s = parse_data_spec(spec) if isinstance(spec, str) else spec
    if s.kind == "imagefolder":
        assert s.root is not None
        train = s.root / "train"
        n = len([d for d in train.iterdir() if d.is_dir()]) if train.is_dir() else 0
        if n == 0:
            raise DataError(f"{s.root} is not an image folder: expected class folders in {train}/ (and {s.root}/val/)")
        if n == 1:
            raise DataError(f"{train} has only one class folder; a classifier needs at least 2 "
                            "(one sub-folder of images per class)")
        return n
    return {"cifar100": 100, "synthetic": default}.get(s.kind, 10)


def _stats(kind: str, in_chans: int) -> tuple[tuple[float, ...], ...]:
    mean, std = {"cifar10": (CIFAR10_MEAN, CIFAR10_STD), "cifar100": (CIFAR100_MEAN, CIFAR100_STD),
                 "imagefolder": (IMAGENET_MEAN, IMAGENET_STD)}.get(kind, (DIGITS_MEAN, DIGITS_STD))
    if len(mean) != in_chans:  # grey <-> colour conversion: one statistic for every channel
        mean, std = (sum(mean) / len(mean),) * in_chans, (sum(std) / len(std),) * in_chans
    return tuple(mean), tuple(std)


def build_transforms(kind: str, train: bool, *, image_size: int, in_chans: int, augment: str = "auto",
                     auto_augment: str | None = None, random_erase: float = 0.0, val_resize: int | None = None,
                     mean: Sequence[float] = DIGITS_MEAN, std: Sequence[float] = DIGITS_STD) -> Callable[..., Any]:
    """The torchvision v2 pipeline from a uint8 image to a normalised float tensor.

    ``augment="auto"``: none for MNIST, random crop with 4-pixel padding + flip for CIFAR
    (He et al. 2015, Sec. 4.2), RandomResizedCrop + flip for image folders (Szegedy et al.
    2014, Sec. 6; the torchvision recipes). Evaluation resizes and center-crops (image
    folders, ``val_resize`` defaulting to ``image_size / 0.875``) or just resizes.
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
        steps += [v2.Resize(val_resize or int(round(image_size / 0.875)), antialias=True), v2.CenterCrop(image_size)]
    elif native != image_size:
        steps.append(v2.Resize((image_size, image_size), antialias=True))
    if train and auto_augment:
        steps.append({"ta_wide": v2.TrivialAugmentWide, "randaugment": v2.RandAugment,
                      "autoaugment": v2.AutoAugment}[auto_augment]())
    steps += [MatchChannels(in_chans), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if train and random_erase > 0:
        steps.append(v2.RandomErasing(p=random_erase))
    return v2.Compose(steps)


# ---------------------------------------------------------------- sampling and loading
class EpochSampler(Sampler[int]):
    """Indices for one process in one epoch; the order depends only on (seed, epoch).

    Shuffled with a generator seeded from the seed and the epoch (so a resumed run sees
    the same order as an uninterrupted one), padded so every process gets as many
    samples, and split by rank (``indices[rank::world_size]``, as DistributedSampler).
    ``start`` skips samples already seen in an epoch that was interrupted.
    """

    def __init__(self, n: int, *, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
                 pad: bool = True) -> None:
        self.n, self.shuffle, self.seed, self.rank, self.world_size, self.pad = n, shuffle, seed, rank, world_size, pad
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.pad and self.n % self.world_size:
            extra = self.world_size - self.n % self.world_size
            order += (order * (extra // max(1, self.n) + 1))[:extra]
        return order[self.rank::self.world_size][self.start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.world_size) if self.pad else len(range(self.rank, self.n, self.world_size))
        return max(0, per_rank - self.start)


class SyntheticLoader:
    """Random batches made once on the device and yielded ``batches`` times (no host copies)."""

    def __init__(self, *, batch_size: int, image_size: int, in_chans: int, num_classes: int, batches: int,
                 device: torch.device, seed: int = 0) -> None:
        g = torch.Generator(device=device).manual_seed(seed)
        self.images = torch.randn(batch_size, in_chans, image_size, image_size, device=device, generator=g)
        self.labels = torch.randint(0, num_classes, (batch_size,), device=device, generator=g)
        self.batch_size, self.batches, self.num_classes = batch_size, batches, num_classes

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return itertools.repeat((self.images, self.labels), self.batches)


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


def _make_loader(ds: Dataset[Any], *, train: bool, batch_size: int, workers: int, seed: int, rank: int,
                 world_size: int, device: torch.device, deterministic: bool) -> DataLoader[Any]:
    n = len(ds)  # type: ignore[arg-type]
    if n == 0:
        raise DataError("the dataset is empty")
    sampler = EpochSampler(n, shuffle=train, seed=seed, rank=rank, world_size=world_size, pad=train)
    return DataLoader(
        ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
        # a last batch of a few images gives noisy BN statistics (and one image fails BN)
        drop_last=train and len(sampler) > batch_size,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(seed),
        # persistent workers keep their RNG across epochs, which a resumed run cannot recreate
        persistent_workers=workers > 0 and not deterministic,
    )


def build_data(spec: str | DataSpec, *, image_size: int, in_chans: int, batch_size: int, workers: int,
               device: torch.device, seed: int = 0, rank: int = 0, world_size: int = 1,
               deterministic: bool = False, augment: str = "auto", auto_augment: str | None = None,
               random_erase: float = 0.0, val_resize: int | None = None, val_image_size: int | None = None,
               num_classes: int = 1000, train: bool = True, bad_images: str = "error") -> DataBundle:
    """Datasets and loaders for a ``--data`` spec (``train=False``: the validation loader only).

    ``num_classes`` is the synthetic data's; the others have their own. ``bad_images``
    is the image folders' (see :func:`imagefolder_dataset`).
    """
    s = parse_data_spec(spec) if isinstance(spec, str) else spec
    val_size = val_image_size or image_size
    if s.kind == "synthetic":
        n_batches = max(1, s.samples // (batch_size * world_size))
        make = functools.partial(SyntheticLoader, in_chans=in_chans, num_classes=num_classes, device=device,
                                 batch_size=batch_size)
        return DataBundle(make(image_size=image_size, batches=n_batches, seed=seed + rank) if train else None,
                          make(image_size=val_size, batches=max(1, n_batches // 4), seed=seed + rank + 1),
                          num_classes, in_chans, image_size, [str(i) for i in range(num_classes)], "synthetic")
    if s.kind == "digits":
        train_ds: Any = digits_dataset("train", image_size, in_chans) if train else None
        val_ds: Any = digits_dataset("val", val_size, in_chans)
    else:
        mean, std = _stats(s.kind, in_chans)
        tf = functools.partial(build_transforms, s.kind, image_size=image_size, in_chans=in_chans, augment=augment,
                               auto_augment=auto_augment, random_erase=random_erase, mean=mean, std=std)
        train_tf = tf(True)
        val_tf = tf(False, image_size=val_size, val_resize=val_resize)
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
            val_ds = imagefolder_dataset(root, "val", in_chans, val_tf, bad_images=bad_images)
            train_ds = imagefolder_dataset(root, "train", in_chans, train_tf, bad_images=bad_images) if train else None
            if train and train_ds.classes != val_ds.classes:
                raise DataError(f"{s.root}: train/ and val/ have different class folders "
                                f"({len(train_ds.classes)} vs {len(val_ds.classes)})")
    classes = list(val_ds.classes)
    common = dict(batch_size=batch_size, workers=workers, seed=seed, rank=rank, world_size=world_size,
                  device=device, deterministic=deterministic)
    train_loader = _make_loader(train_ds, train=True, **common) if train else None
    skipped = [*getattr(train_ds, "skipped", []), *getattr(val_ds, "skipped", [])]
    return DataBundle(train_loader, _make_loader(val_ds, train=False, **common), len(classes), in_chans,
                      image_size, classes, s.kind, skipped)


