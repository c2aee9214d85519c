"""Images/s of the ImageFolder JPEG training pipeline per CPU core, and on CUDA with GPU decoding.

CPU (one process, one thread, no loader workers: images/s per core), interleaved on the
same images with the same random crops (the RNG is reseeded per round):

* ``cnnzoo dataset``: what ``cnnzoo train --data DIR`` runs per image, built by cnnzoo.data
  (``imagefolder_dataset`` with ``build_transforms``: read, ``decode_image`` (libjpeg-turbo),
  RandomResizedCrop, flip, channel check, to float, normalise; transforms v2);
* ``cnnzoo loader``: the same through the trainer's DataLoader (``build_data``, workers=0),
  batching included;
* ``reference``: the minimal hand-written equivalent (``read_file``, ``decode_jpeg``, the same
  four v2 transforms); the ratio column is each pipeline's time over this one's;
* ``decode only`` and ``decode+crop+flip``: the reference cut short, to show where time goes.

CUDA (only with a GPU; untested until one is available): files are read on the CPU, decoded
in batches by nvJPEG (``decode_jpeg(list, device="cuda")``), then cropped, flipped, converted
and normalised on the GPU with the same v2 transforms (they accept CUDA tensors), so the
result is the CPU pipeline's by construction. ``--smoke`` runs that same function with
``device="cpu"`` so the code path is exercised without a GPU.

The images come from ``--root`` (an ImageFolder: ROOT/train/<class>/*.jpg) or, without it,
from a small folder made by scripts/make_jpeg_folder.py in a temporary directory.

Run: python benchmarks/input.py [--root DIR] [--images 64] [--repeats 7] [--image-size 224]
     [--threads 1] [--device cpu|cuda] [--batch-size 64] [--json F] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# torchvision 0.29 announces that torchcodec will take over image decoding; until it does,
# torchvision.io is the decoder every torchvision install has (and the one cnnzoo.data uses)
warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)

from _common import (REPO, describe, interleaved, machine, median, median_ci, paired_ratio, print_markdown,
                     print_table, set_threads, write_json)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
COLUMNS = ["pipeline", "device", "images/s", "ms/image", "vs reference", "95% CI", "rounds"]


def _make_jpeg_folder() -> Any:
    spec = importlib.util.spec_from_file_location("make_jpeg_folder", REPO / "scripts" / "make_jpeg_folder.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_transforms(image_size: int, stop: str = "normalize") -> Callable[[torch.Tensor], torch.Tensor]:
    """RandomResizedCrop, flip, to float, normalise (v2); ``stop="flip"`` ends after the flip."""
    from torchvision.transforms import v2

    steps: list[Any] = [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip()]
    if stop == "normalize":
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(IMAGENET_MEAN), list(IMAGENET_STD))]
    return v2.Compose(steps)


def gpu_batch(files: list[str], image_size: int, device: torch.device,
              augment: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Decode a batch of JPEG files on ``device`` and augment it there: N x 3 x S x S float.

    Reads the bytes on the CPU, decodes them in one batched call (nvJPEG on CUDA), applies
    ``augment`` (RandomResizedCrop + flip) to each image (each has its own size and crop)
    and converts and normalises the stacked batch in one go.
    """
    from torchvision.io import ImageReadMode, decode_jpeg, read_file
    from torchvision.transforms.v2 import functional as F

    data = [read_file(f) for f in files]
    images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    batch = torch.stack([augment(img) for img in images])
    batch = F.to_dtype(batch, torch.float32, scale=True)
    return F.normalize(batch, list(IMAGENET_MEAN), list(IMAGENET_STD))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="an image folder (ROOT/train/<class>/*.jpg); default: make a small one")
    ap.add_argument("--images", type=int, default=64, help="images per contender per round")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--threads", type=int, help="CPU threads (default 1: images/s per core)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cuda adds the GPU-decoding pipeline to the CPU ones")
    ap.add_argument("--batch-size", type=int, default=64, help="batch of the loader and of GPU decoding")
    ap.add_argument("--smoke", action="store_true", help="tiny settings, to test that the script runs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.images, args.repeats, args.warmup, args.image_size, args.batch_size = 4, 2, 1, 64, 2
    if args.images % args.batch_size and not args.smoke:
        args.images = max(args.batch_size, args.images // args.batch_size * args.batch_size)
    cpu = torch.device("cpu")
    set_threads(args.threads, cpu)
    with tempfile.TemporaryDirectory(prefix="cnnzoo-jpegs-") as tmp:
        root = Path(args.root) if args.root else Path(tmp)
        if not args.root:
            n = 1 if args.smoke else 8
            _make_jpeg_folder().make_folder(root, classes=4, train_per_class=max(n, args.images // 4 + 1),
                                            val_per_class=1)
        rows = run(root, args)
    info = machine()
    print(f"\n# JPEG pipeline, {args.images} images per round, {args.image_size}px crops, {args.repeats} interleaved "
          f"rounds, 1 process ({torch.get_num_threads()} thread(s)), no loader workers; ratio: median of "
          f"per-round time ratios to the reference; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})
    return rows


def run(root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    from cnnzoo.data import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD, build_data, build_transforms, \
        imagefolder_dataset, parse_data_spec

    cpu = torch.device("cpu")
    size, n = args.image_size, args.images
    ds = imagefolder_dataset(root, "train", 3, build_transforms("imagefolder", True, image_size=size, in_chans=3,
                                                                  mean=MEAN, std=STD))
    bundle = build_data(parse_data_spec(str(root)), image_size=size, in_chans=3, batch_size=min(args.batch_size, n),
                        workers=0, device=cpu, seed=0)
    loader = bundle.train_loader
    batches = max(1, n // loader.batch_size)
    n = batches * loader.batch_size  # every contender decodes the images of the loader's first batches
    if len(ds) < n:
        raise SystemExit(f"{root}/train has {len(ds)} images; --images {n} needs that many")
    loader.sampler.set_epoch(0)
    indices = list(itertools.islice(iter(loader.sampler), n))
    files = [ds.samples[i][0] for i in indices]
    full, crop = reference_transforms(size), reference_transforms(size, stop="flip")

    def seeded(fn: Callable[[], Any]) -> Callable[[], Any]:
        calls = itertools.count()

        def call() -> Any:  # the k-th call of every contender draws the same random crops
            torch.manual_seed(next(calls))
            return fn()
        return call

    def decode(f: str) -> torch.Tensor:
        return decode_jpeg(read_file(f), mode=ImageReadMode.RGB)

    def through_loader() -> None:
        loader.sampler.set_epoch(0)  # the same images as the others
        for _ in itertools.islice(iter(loader), batches):
            pass

    fns: dict[str, Callable[[], Any]] = {
        "reference": lambda: [full(decode(f)) for f in files],
        "cnnzoo dataset": lambda: [ds[i] for i in indices],
        "cnnzoo loader": through_loader,
        "decode only": lambda: [decode(f) for f in files],
        "decode+crop+flip": lambda: [crop(decode(f)) for f in files],
    }
    times = interleaved({k: seeded(fn) for k, fn in fns.items()}, cpu, warmup=args.warmup, repeats=args.repeats)
    rows = [_row(k, "cpu", times[k], times["reference"], n) for k in fns]
    torch.manual_seed(0)
    ref_out = full(decode(files[0]))
    torch.manual_seed(0)
    if not torch.equal(ref_out, ds[indices[0]][0]):  # same decoder, same transforms, same crop
        raise RuntimeError("cnnzoo's ImageFolder pipeline and the reference give different tensors: "
                           "they no longer measure the same work; update the reference")
    gpu = torch.device(args.device)
    if gpu.type == "cuda" or args.smoke:  # smoke: the GPU code path, run on the CPU
        dev = gpu if gpu.type == "cuda" else cpu
        from torchvision.transforms import v2

        augment = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
        gb = min(args.batch_size, n)
        groups = [files[i:i + gb] for i in range(0, n, gb)]
        out = gpu_batch(groups[0], size, dev, augment)
        if out.shape != (len(groups[0]), 3, size, size) or out.dtype != torch.float32 or out.device.type != dev.type:
            raise RuntimeError(f"GPU pipeline returned {tuple(out.shape)} {out.dtype} on {out.device}")
        t = interleaved({"gpu": lambda: [gpu_batch(g, size, dev, augment) for g in groups]}, dev,
                        warmup=args.warmup, repeats=args.repeats)
        row = _row(f"nvJPEG decode + GPU augment (batch {gb})", str(dev), t["gpu"], None, n)
        row["note"] = "CPU run of the GPU code path (smoke)" if dev.type == "cpu" else ""
        rows.append(row)
    return rows


def _row(name: str, device: str, ts: list[float], ref: list[float] | None, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"pipeline": name, "device": device, "images/s": n / median(ts),
                           "ms/image": median(ts) / n * 1e3, "rounds": len(ts), "seconds": ts}
    if ref is not None:
        lo, hi = median_ci([a / b for a, b in zip(ts, ref)])
        row["vs reference"] = paired_ratio(ts, ref)
        row["95% CI"] = f"{lo:.3f}-{hi:.3f}"
    return row


if __name__ == "__main__":
    main()
