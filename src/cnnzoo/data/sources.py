"""Data sources: the built-in digits, MNIST and CIFAR files, image folders, synthetic batches.

File formats are read here without torchvision's download-oriented dataset classes, so the
files can sit in any folder: the IDX files of MNIST (gzipped or not), the CIFAR python
batches (with a restricted unpickler that can build only arrays, lists and strings), image
folders through torchvision's ``ImageFolder`` and :mod:`~cnnzoo.data.decode`, and random batches
made on the device for throughput measurements.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import itertools
import math
import os
import pickle
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError, shown
from ..limits import check_count
from ..models.arguments import checked
from ..reading import read_bytes, walk_files
from .decode import read_image, read_image_bytes
from .stats import DIGITS_MEAN, DIGITS_STD

__all__ = [
    "ImageDataset",
    "digits_dataset",
    "read_idx",
    "mnist_dataset",
    "read_cifar_batch",
    "cifar_dataset",
    "imagefolder_dataset",
    "SyntheticLoader",
]

#: the largest IDX file or CIFAR batch read, gzipped or inflated: MNIST's largest file is 47 MB, CIFAR-100's 150 MB
MAX_DATA_FILE_BYTES = 4 << 30
#: each data set's files by split (MNIST: LeCun's file prefixes; CIFAR: Krizhevsky's batch names)
_SPLIT_FILES: dict[str, dict[str, Any]] = {
    "digits": {"train": slice(360, None), "val": slice(360)},  # of the fixed permutation (digits_dataset)
    "mnist": {"train": "train", "val": "t10k"},
    "cifar10": {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "val": ("test_batch",)},
    "cifar100": {"train": ("train",), "val": ("test",)},
}


def _split_files(kind: str, split: str) -> Any:
    """What ``kind``'s ``split`` is made of (see :data:`_SPLIT_FILES`): the one check of a split (and of
    CIFAR's class count)."""
    files = _SPLIT_FILES.get(kind, {}).get(split)
    if files is None:
        raise DataError(f"{kind} has splits 'train' and 'val' (CIFAR: 10 or 100 classes), got split {split!r}")
    return files


def _labelled(
    images: Any, labels: Any, shape: tuple[int | None, ...], num_classes: int, where: str, noun: str = "class"
) -> np.ndarray:
    """The one shape and label check of the binary data sets (MNIST's IDX files, CIFAR's batches):
    ``images`` a uint8 array N x ``shape`` (None: any side) holding pixels, and N ``labels``, each a
    whole number in 0 .. ``num_classes`` - 1 (NaN, 9.5, -3 and 10 are not). The labels as int64."""
    dims = images.shape if isinstance(images, np.ndarray) else ()
    if (
        not dims
        or images.dtype != np.uint8
        or len(dims) != 1 + len(shape)
        or not images.size
        or any(want not in (None, got) for got, want in zip(dims[1:], shape))
    ):
        what = f"{' x '.join(map(str, dims))} {images.dtype}" if dims else f"a {type(images).__name__}, not an array"
        raise DataError(
            f"{where}: its images are {what}; expected uint8 images N x {' x '.join(str(s or '?') for s in shape)}"
        )
    values = labels.tolist() if isinstance(labels, np.ndarray) else labels
    if not isinstance(values, list) or len(values) != len(images):
        got = len(values) if isinstance(values, list) else shown(values)
        raise DataError(f"{where}: expected {len(images)} labels, one per image, got {got}")
    bad = next((i for i, v in enumerate(values) if v not in range(num_classes)), None)  # a float 3.0 is 3
    if bad is not None:
        raise DataError(
            f"{where}: label {shown(values[bad])} (entry {bad}) is not a {noun}, outside 0..{num_classes - 1}"
        )
    return np.asarray(values, dtype=np.int64)


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images held in one (N, C, H, W) tensor with integer labels and an optional transform.

    ``images``, ``labels`` (int64) and ``classes`` are public: the whole set at once, e.g.
    ``model(ds.images)`` for the preprocessed digits (the transform is per item only).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.classes, self.transform = images, labels, list(classes), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.images[i]
        return (self.transform(x) if self.transform is not None else x), int(self.labels[i])


# ---------------------------------------------------------------- digits (built in)
@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn's own CSV, read without importing scikit-learn: its import (sklearn.base and
    # what that pulls in) was most of a digits run's time before its first step
    spec = importlib.util.find_spec("sklearn")
    roots = spec.submodule_search_locations if spec is not None else None
    csv = Path(roots[0], "datasets", "data", "digits.csv.gz") if roots else None
    if csv is None or not csv.is_file():  # another layout of scikit-learn: its loader
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images, d.target
    data = np.loadtxt(csv, delimiter=",")  # 64 pixels then the label, per row (load_digits' format)
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def digits_dataset(split: str = "train", image_size: int = 32, in_chans: int = 1) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits, preprocessed, as a dataset of float tensors.

    The split is fixed: ``perm = numpy.random.default_rng(0).permutation(1797)``, val is
    ``perm[:360]``, train ``perm[360:]`` (the shipped ``lenet5.digits`` weights use it).
    Pixels are scaled by 1/16 to [0, 1] (digits are light on dark), resized bilinearly
    with antialiasing to ``image_size``, repeated to ``in_chans`` and normalised with mean
    0.5 / std 0.5. Source: the UCI optical recognition of handwritten digits data
    (Alpaydin & Kaynak 1998), as shipped by ``sklearn.datasets.load_digits``.
    """
    check_count("input_size", image_size, DataError), check_count("in_chans", in_chans, DataError)
    images, target = _load_digits()
    perm = np.random.default_rng(0).permutation(len(images))
    idx = perm[_split_files("digits", split)]
    x = torch.from_numpy(images[idx]).float().div_(16.0).unsqueeze(1)  # N x 1 x 8 x 8 in [0, 1]
    if image_size != 8:
        # torchvision's tensor resize is this call; torchvision itself is not needed (nor its import time)
        x = torch.nn.functional.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True
        )
    x = (x - DIGITS_MEAN[0]) / DIGITS_STD[0]
    x = x.repeat(1, in_chans, 1, 1) if in_chans != 1 else x.contiguous()
    return ImageDataset(x, torch.from_numpy(target[idx]).long(), [str(i) for i in range(10)])


# ---------------------------------------------------------------- MNIST (IDX files)
#: MNIST's two files per split: what they hold and their number of dimensions (LeCun's names)
_MNIST_FILES = (("images", 3), ("labels", 1))
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not, checking its header.

    Format: two zero bytes, a type byte (0x08 = unsigned byte ...), the number of
    dimensions, then each dimension as a big-endian int32, then the data.
    """
    p = Path(path)
    raw = read_bytes(p, "IDX file", limit=MAX_DATA_FILE_BYTES, error=DataError)
    if raw[:2] == b"\x1f\x8b":  # gzip: inflated up to the same bound (a small .gz can hold gigabytes of zeros);
        inflate = zlib.decompressobj(wbits=31)  # a stream that ends early or goes on is then the wrong size
        try:
            raw = inflate.decompress(raw, MAX_DATA_FILE_BYTES + 1)
        except zlib.error as e:
            raise DataError(f"cannot read IDX file {p}: its gzip data is damaged ({e})") from None
    ndim = raw[3] if len(raw) > 3 else 0
    header = 4 + 4 * ndim
    if not ndim or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES or len(raw) < header:
        raise DataError(
            f"{p} is not an IDX file (magic number {raw[:4].hex() or 'missing'}, {len(raw):,} bytes in all)"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = _IDX_DTYPES[raw[2]]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{p}: IDX header says {dims} ({expected:,} bytes) but the file holds {len(raw):,} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find_files(root: Path, folders: Sequence[str], names: Sequence[Sequence[str]], what: str, hint: str) -> list[Path]:
    """For each group of ``names`` (a file's other spellings), the first found in ``root``'s ``folders``
    (``""``: ``root`` itself), in that order: the one check that a data set's files are there."""
    found = [next((root / f / n for f in folders for n in group if (root / f / n).is_file()), None) for group in names]
    missing = [group[0] for group, path in zip(names, found) if path is None]
    if missing:
        where = " or ".join(str(root / f) for f in folders)
        raise DataError(f"{what} files {', '.join(missing)} not found in {where}; {hint}")
    return [path for path in found if path is not None]


def mnist_dataset(
    root: str | os.PathLike[str], split: str = "train", transform: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> ImageDataset:
    """MNIST from its four IDX files in ``root`` (``train-images-idx3-ubyte`` ...; ``.gz`` too).

    Images are kept as uint8 (N, 1, 28, 28); ``transform`` turns one into a model input.
    LeCun et al. 1998, "Gradient-based learning applied to document recognition".
    """
    r, prefix = Path(root), _split_files("mnist", split)
    names = [[f"{prefix}-{k}{sep}idx{d}-ubyte{gz}" for sep in "-." for gz in ("", ".gz")] for k, d in _MNIST_FILES]
    hint = "no MNIST data there: put LeCun's four IDX files (gzipped or not) in the folder"
    img_file, lbl_file = _find_files(r, ("", "raw", "MNIST/raw"), names, f"MNIST {split}", hint)
    images = read_idx(img_file)
    labels = _labelled(images, read_idx(lbl_file), (None, None), 10, f"{img_file} with {lbl_file}", "digit")
    x = torch.from_numpy(images.copy()).unsqueeze(1)
    return ImageDataset(x, torch.from_numpy(labels), [str(i) for i in range(10)], transform)


# ---------------------------------------------------------------- CIFAR (python batches)
def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1"): latin1 whatever the file
    # names (str.encode runs no code); anything but text fails as a damaged batch (AttributeError)
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

    def __init__(self, file: Any, limit: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.limit = limit  # no object of the file may be bigger than the file (plus slack)

    def _bytearray(self, *args: Any) -> bytearray:
        # bytearray(2**44) is one small opcode that asks for 16 TiB
        if args and isinstance(args[0], int) and not 0 <= args[0] <= self.limit:
            raise pickle.UnpicklingError(f"refusing a bytearray of {args[0]:,} bytes from a file this small")
        return bytearray(*args)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            return _numpy_attr("multiarray", "_reconstruct")
        if (module, name) in (("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")):
            return _numpy_attr("numeric", "_frombuffer")
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if name == "bytearray" and module in ("builtins", "__builtin__"):  # protocol 2 names Python 2's module
            return self._bytearray
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def read_cifar_batch(path: str | os.PathLike[str], num_classes: int = 100) -> dict[str, Any]:
    """Read one CIFAR python batch safely; returns ``{"data": uint8 N x 3072, "labels": int64 N}``,
    each label below ``num_classes``."""
    p = Path(path)
    raw = read_bytes(p, "CIFAR batch", limit=MAX_DATA_FILE_BYTES, error=DataError)
    try:  # a batch is a dict: anything else the file holds has no items() (AttributeError)
        obj = _CifarUnpickler(io.BytesIO(raw), len(raw) + 65536, encoding="bytes").load()
        batch = {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError) as e:
        raise DataError(f"{p} is not a CIFAR batch ({e}); it was not loaded") from None
    data, labels = batch.get("data"), batch.get("labels", batch.get("fine_labels"))
    return {"data": data, "labels": _labelled(data, labels, (3072,), num_classes, str(p))}


def cifar_dataset(
    root: str | os.PathLike[str],
    split: str = "train",
    num_classes: int = 10,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ImageDataset:
    """CIFAR-10/100 from the python batches in ``root`` (or its ``cifar-10-batches-py``).

    CIFAR-10: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; CIFAR-100:
    ``train`` and ``test``. Krizhevsky 2009, "Learning Multiple Layers of Features from
    Tiny Images". Images are uint8 (N, 3, 32, 32).
    """
    names = _split_files(f"cifar{num_classes}", split)
    sub = "cifar-10-batches-py" if num_classes == 10 else "cifar-100-python"
    hint = "extract the python version of the data set there (cifar-*-python.tar.gz)"
    paths = _find_files(Path(root), (sub, ""), [[n] for n in names], f"CIFAR-{num_classes}", hint)
    batches = [read_cifar_batch(path, num_classes) for path in paths]
    data = np.concatenate([b["data"] for b in batches])
    labels = np.concatenate([b["labels"] for b in batches])
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return ImageDataset(x, torch.from_numpy(labels), [str(i) for i in range(num_classes)], transform)


# ---------------------------------------------------------------- image folders
def _read(path: str) -> torch.Tensor:
    """A file's bytes as a 1-D uint8 tensor (decoded later, on the device)."""
    data = read_image_bytes(path)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


def _decode(path: str, channels: Literal[1, 3]) -> torch.Tensor:
    try:
        return read_image(path, channels)
    except DataError as e:
        raise DataError(f"{e}; replace or delete it, or train with --bad-images skip") from None


def _with_seed(data: torch.Tensor) -> tuple[torch.Tensor, int]:
    """An undecoded file and a seed for its augmentation on the device, drawn from this worker's stream."""
    return data, int(torch.randint(0, 2**62, ()))


def _class_folders(folder: str | os.PathLike[str]) -> list[str]:
    """The class folders of an image folder (its sub-folders, sorted as torchvision's ``ImageFolder`` sorts
    them): the one check that a folder holds classes, at least two (a classifier of one class learns
    nothing), for counting them and for reading them."""
    try:
        classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        why = "holds only one class folder; a classifier needs at least 2" if classes else "holds no class folders"
    except OSError as e:  # missing, unreadable or not a folder: said as the system says it
        classes, why = [], e.strerror or type(e).__name__
    if len(classes) < 2:
        raise DataError(
            f"image folder {folder}: {why}; expected class folders of images, DIR/train/<class>/ and "
            "DIR/val/<class>/ (or, to evaluate on, DIR/<class>/)"
        )
    return classes


def _image_files(
    directory: str | os.PathLike[str], class_to_idx: dict[str, int], *args: Any, **kwargs: Any
) -> list[tuple[str, int]]:
    """torchvision's ``make_dataset`` with cnnzoo's bounded walk: regular image files only (a FIFO
    would block the loader forever), each folder entered once (a loop of links is not entered again)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return [
        (str(f), index)
        for cls, index in sorted(class_to_idx.items())
        for f in walk_files(Path(directory) / cls)
        if f.suffix.lower() in IMG_EXTENSIONS
    ]


@checked
def imagefolder_dataset(
    root: str | os.PathLike[str],
    split: str = "train",
    in_chans: int = 3,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    *,
    bad_images: Literal["error", "skip"] = "error",
    encoded: bool = False,
) -> Dataset[Any]:
    """``root/<split>/<class>/<image>`` via torchvision's ImageFolder, decoded by :func:`~cnnzoo.data.read_image`.

    ``bad_images="error"`` (default) stops at the first file that cannot be decoded, with
    a :class:`DataError` naming it; ``"skip"`` decodes every file once here, leaves out
    those that fail and lists them in the dataset's ``skipped`` attribute. ``encoded=True``
    gives each file undecoded, with a random seed, ``((bytes, seed), class)``, for decoding
    on the GPU (:class:`~cnnzoo.data.feed.DecodeImages`, which applies ``transform`` there).
    """
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    class _ImageFolder(ImageFolder):  # type: ignore[misc]
        make_dataset = staticmethod(_image_files)  # cnnzoo's bounded walk and checks, not torchvision's

        def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
            classes = _class_folders(directory)
            return classes, {c: i for i, c in enumerate(classes)}

    folder = Path(root) / split
    channels: Literal[1, 3] = 1 if in_chans == 1 else 3
    loader: Callable[[str], Any] = _read if encoded else functools.partial(_decode, channels=channels)
    ds = _ImageFolder(str(folder), transform=_with_seed if encoded else transform, loader=loader)
    ds.skipped = []
    if bad_images == "skip":
        good = []
        for path, target in ds.samples:
            try:
                read_image(path, channels)
            except DataError:
                ds.skipped.append(path)
            else:
                good.append((path, target))
        ds.samples = ds.imgs = good
        ds.targets = [t for _, t in good]
    if not ds.samples:  # no image file in its class folders, or (skipping) none that can be decoded
        raise DataError(
            f"{folder}: Found no valid file in its class folders ({len(ds.skipped)} that cannot be decoded; images: "
            f"{' '.join(IMG_EXTENSIONS)}); put images in its class folders"
        )
    return ds


class SyntheticLoader:
    """Random batches made once on the device and yielded ``batches`` times (no host copies)."""

    def __init__(
        self,
        *,
        batch_size: int,
        image_size: int,
        in_chans: int,
        num_classes: int,
        batches: int,
        device: torch.device,
        seed: int = 0,
    ) -> None:
        g = torch.Generator(device=device).manual_seed(seed)
        self.images = torch.randn(batch_size, in_chans, image_size, image_size, device=device, generator=g)
        self.labels = torch.randint(0, num_classes, (batch_size,), device=device, generator=g)
        self.batch_size, self.batches, self.num_classes = batch_size, batches, num_classes

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return itertools.repeat((self.images, self.labels), self.batches)
