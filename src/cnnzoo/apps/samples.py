"""Sample images to try ``cnnzoo predict`` on: the built-in digits, or a few images of a data set.

``cnnzoo data samples --output samples`` writes validation digits as PNG files, so that the
README's ``predict`` and ``--saliency`` commands run as written on a fresh machine, with no
download: the digits ship inside scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write
from ..data.decode import read_image_bytes
from ..errors import InvalidArgumentError
from ..models.arguments import Count, checked
from .arguments import PathArg

__all__ = ["write_samples"]


def _round_robin(labels: list[int], n: int) -> list[int]:
    """Indices of ``n`` items taken in turn from each class (class 0 first), each class in order."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    picked: list[int] = []
    queues = [list(reversed(by_class[y])) for y in sorted(by_class)]
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop())
    return picked


def _png(image: torch.Tensor, path: Path) -> Path:
    from ..data.decode import encode_png

    return atomic_write(path, encode_png(image))


def _tensor_samples(
    ds: Any, classes: list[str], n: int, out: Path, undo: tuple[float, float] | None, prefix: str
) -> list[Path]:
    labels = [int(y) for y in ds.labels]
    written: list[Path] = []
    seen: dict[str, int] = {}
    for i in _round_robin(labels, n):
        x = ds.images[i]
        if undo is not None:  # the digits are stored normalised: back to [0, 255]
            mean, std = undo
            x = ((x * std + mean).clamp(0, 1) * 255).round()
        name = classes[labels[i]]
        k = seen[name] = seen.get(name, -1) + 1
        written.append(_png(x.to(torch.uint8), out / f"{prefix}{name}_{k}.png"))
    return written


def _folder_samples(root: Path, split: str, n: int, out: Path) -> list[Path]:
    from ..data import imagefolder_dataset

    ds: Any = imagefolder_dataset(root, split)  # the files training would read, found and checked as it finds them
    written = []
    for i in _round_robin(ds.targets, n):
        src = Path(ds.samples[i][0])
        dest = out / src.relative_to(root / split)  # <class>/[sub-folders/]<name>: no two files on one path
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, read_image_bytes(src))  # the file as it is: the same bytes the data set holds
        written.append(dest)
    return written


@checked
def write_samples(
    output: PathArg, data: str = "digits", n: Count = 20, *, split: str = "val", image_size: int = 32
) -> list[Path]:
    """Write ``n`` images of a data set into ``output``, taken in turn from each class.

    ``data`` is a ``--data`` spec: ``digits`` (default: scikit-learn's 8x8 digits, resized
    to ``image_size`` as ``cnnzoo train`` does and written as ``digit<label>_<k>.png``, light
    on dark as the shipped ``lenet5`` weights expect), ``mnist:DIR`` and ``cifar10:DIR`` /
    ``cifar100:DIR`` (``<label>_<k>.png`` at their own size) or an image folder (files copied
    as they are into ``output/<class>/``). Images come from the ``split`` (``val``: never
    trained on). Returns the paths written.
    """
    from ..data import cifar_dataset, digits_dataset, mnist_dataset, parse_data_spec
    from ..data.stats import DIGITS_MEAN, DIGITS_STD
    from ..training.outputs import output_refused, prepare_output_dir

    spec = parse_data_spec(data)
    try:
        out = prepare_output_dir(output, "samples")
    except OSError as e:  # a file, a file as a parent or no permission: one line, as a run's output
        raise output_refused(e, output) from None
    if spec.kind == "digits":
        ds = digits_dataset(split, image_size, 1)
        return _tensor_samples(ds, ds.classes, n, out, (DIGITS_MEAN[0], DIGITS_STD[0]), "digit")
    if spec.kind == "synthetic":
        raise InvalidArgumentError("synthetic data are random numbers, not images; choose digits or a data set")
    assert spec.root is not None
    if spec.kind == "mnist":
        ds = mnist_dataset(spec.root, split)
    elif spec.kind in ("cifar10", "cifar100"):
        ds = cifar_dataset(spec.root, split, int(spec.kind[5:]))
    else:
        return _folder_samples(spec.root, split, n, out)
    return _tensor_samples(ds, ds.classes, n, out, None, "")
