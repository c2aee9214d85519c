"""Images/s of the ImageFolder JPEG training pipeline per CPU worker: uint8 crops (now) vs float (before).

CPU (one process, one thread: images/s per core), interleaved on the same images with the
same random crops (the RNG is reseeded per round):

* ``float loader (before)``: what one loader worker did before cnnzoo normalised on the device:
  read, ``decode_image`` (libjpeg-turbo), RandomResizedCrop, flip, channel check, to float32,
  normalise (transforms v2), then ``default_collate`` of float32 crops; the baseline of the ratio
  column;
* ``uint8 loader (now)``: what one worker does now (``build_data``'s loader, workers=0): the
  same up to the flip, then collating uint8 crops (4x fewer bytes to stack, pin and copy);
  converting and normalising happen on the GPU (``cnnzoo.data.Normalize``);
* ``uint8 loader + normalise here``: the same with that normalisation run on this CPU too
  (everything a CPU-only run does per image);
* ``reference``: the minimal hand-written float pipeline (``read_file``, ``decode_jpeg``, the
  same four v2 transforms); the script checks it gives the float loader's tensors;
* ``decode only`` and ``decode+crop+flip``: the reference cut short, to show where time goes.

``--workers N`` (default 1) adds the two loaders through real worker processes (N of them;
images/s per worker), which also counts moving the batch from the worker to this process.

CUDA (only with a GPU): ``--decode gpu``'s path, ``build_data(decode="gpu")``: the worker only
reads the files; ``cnnzoo.data.DecodeImages`` decodes them on the GPU in one batched nvJPEG call,
crops, flips and normalises there. ``--smoke`` runs that same path on the CPU (the decoder
works on any device) so it is exercised without a GPU.

The images come from ``--root`` (an ImageFolder: ROOT/train/<class>/*.jpg) or, without it,
from a small folder made by scripts/make_jpeg_folder.py in a temporary directory.

Run: python benchmarks/input.py [--root DIR] [--images 64] [--repeats 7] [--image-size 224]
     [--threads 1] [--workers 1] [--device cpu|cuda] [--batch-size 64] [--json F] [--smoke]
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

# the hand-written reference decodes with torchvision.io, as a bare loop written today would (deprecated
# since torchvision 0.29); cnnzoo.data decodes through cnnzoo.data.decode (checked header, TorchCodec or Pillow)
warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)

from _common import (REPO, describe, interleaved, machine, median, median_ci, paired_ratio, print_markdown,
                     print_table, set_threads, write_json)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
COLUMNS = ["pipeline", "device", "images/s", "ms/image", "vs float loader", "95% CI", "rounds"]
BASELINE = "float loader (before)"


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


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", help="an image folder (ROOT/train/<class>/*.jpg); default: make a small one")
    ap.add_argument("--images", type=int, default=64, help="images per contender per round")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--threads", type=int, help="CPU threads (default 1: images/s per core)")
    ap.add_argument("--workers", type=int, default=1, help="also time the loaders with N worker processes (0: no)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cuda adds the GPU-decoding pipeline to the CPU ones")
    ap.add_argument("--batch-size", type=int, default=64, help="batch of the loader and of GPU decoding")
    ap.add_argument("--smoke", action="store_true", help="tiny settings, to test that the script runs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.images, args.repeats, args.warmup, args.image_size, args.batch_size = 4, 2, 1, 64, 2
        args.workers = min(args.workers, 1)
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
          f"rounds, 1 process ({torch.get_num_threads()} thread(s)); 'N workers' rows: images/s per worker; ratio: "
          f"median of per-round time ratios to the {BASELINE}; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})
    return rows


def run(root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    from torch.utils.data import DataLoader
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    from cnnzoo.data import IMAGENET_MEAN as MEAN
    from cnnzoo.data import IMAGENET_STD as STD
    from cnnzoo.data import build_data, build_transforms, device_transform, imagefolder_dataset, parse_data_spec

    cpu = torch.device("cpu")
    size, n = args.image_size, args.images

    def loaders(workers: int, decode: str = "cpu", device: torch.device = cpu) -> tuple[Any, Any]:
        """(uint8 loader of build_data, the float loader of before: same sampler, same collate)."""
        bundle = build_data(parse_data_spec(str(root)), image_size=size, in_chans=3, workers=workers, seed=0,
                            batch_size=min(args.batch_size, n), device=device, decode=decode)
        new = bundle.train_loader
        floats = imagefolder_dataset(root, "train", 3, build_transforms("imagefolder", True, image_size=size,
                                                                        in_chans=3, mean=MEAN, std=STD))
        old = DataLoader(floats, batch_size=new.batch_size, sampler=new.sampler, num_workers=workers,
                         drop_last=new.drop_last, generator=new.generator, persistent_workers=workers > 0)
        return new, old

    loader, old_loader = loaders(0)
    batches = max(1, n // loader.batch_size)
    n = batches * loader.batch_size  # every contender decodes the images of the loader's first batches
    if len(loader.dataset) < n:
        raise SystemExit(f"{root}/train has {len(loader.dataset)} images; --images {n} needs that many")
    loader.sampler.set_epoch(0)
    indices = list(itertools.islice(iter(loader.sampler), n))
    ds = old_loader.dataset
    files = [ds.samples[i][0] for i in indices]
    full, crop = reference_transforms(size), reference_transforms(size, stop="flip")
    normalise = device_transform(loader)

    def seeded(fn: Callable[[], Any]) -> Callable[[], Any]:
        calls = itertools.count()

        def call() -> Any:  # the k-th call of every contender draws the same random crops
            torch.manual_seed(next(calls))
            return fn()
        return call

    def decode(f: str) -> torch.Tensor:
        return decode_jpeg(read_file(f), mode=ImageReadMode.RGB)

    def through(lo: Any, fn: Callable[[torch.Tensor], Any] = lambda x: x) -> Callable[[], None]:
        def epoch() -> None:
            lo.sampler.set_epoch(0)  # the images of the other contenders
            if lo.num_workers:  # n images of epoch 0 and no more: workers read ahead, and batches read
                lo.sampler.set_epoch(0, start=len(lo.sampler) - n)  # past an islice's end would go uncounted
            for x, _ in itertools.islice(iter(lo), batches):
                fn(x)
        return epoch

    fns: dict[str, Callable[[], Any]] = {
        BASELINE: through(old_loader),
        "uint8 loader (now)": through(loader),
        "uint8 loader + normalise here": through(loader, lambda x: normalise(x, cpu)),
        "reference": lambda: [full(decode(f)) for f in files],
        "decode only": lambda: [decode(f) for f in files],
        "decode+crop+flip": lambda: [crop(decode(f)) for f in files],
    }
    times = interleaved({k: seeded(fn) for k, fn in fns.items()}, cpu, warmup=args.warmup, repeats=args.repeats)
    rows = [_row(k, "cpu", times[k], times[BASELINE], n) for k in fns]
    _check_same_work(loader, old_loader, normalise, full, decode(files[0]), indices[0])
    if args.workers > 0:
        new_w, old_w = loaders(args.workers)
        w_times = interleaved({"float": through(old_w), "uint8": through(new_w)}, cpu, warmup=args.warmup,
                              repeats=args.repeats)
        for key, label in (("float", BASELINE), ("uint8", "uint8 loader (now)")):
            row = _row(f"{label}, {args.workers} worker(s)", "cpu", [t * args.workers for t in w_times[key]],
                       [t * args.workers for t in w_times["float"]], n)
            rows.append(row)
    gpu = torch.device(args.device)
    if gpu.type == "cuda" or args.smoke:  # smoke: the GPU code path, run on the CPU
        dev = gpu if gpu.type == "cuda" else cpu
        encoded, _ = loaders(0, decode="gpu", device=dev)
        decoder = device_transform(encoded)
        out = decoder(next(iter(encoded))[0], dev)
        shape = (encoded.batch_size, 3, size, size)
        if out.shape != shape or out.dtype != torch.float32 or out.device.type != dev.type:
            raise RuntimeError(f"GPU pipeline returned {tuple(out.shape)} {out.dtype} on {out.device}")
        t = interleaved({"gpu": through(encoded, lambda x: decoder(x, dev))}, dev, warmup=args.warmup,
                        repeats=args.repeats)
        row = _row(f"--decode gpu: nvJPEG + transforms on the device (batch {encoded.batch_size})", str(dev),
                   t["gpu"], None, n)
        row["note"] = "CPU run of the GPU code path (smoke)" if dev.type == "cpu" else ""
        rows.append(row)
    return rows


def _check_same_work(loader: Any, old_loader: Any, normalise: Any, full: Any, image: torch.Tensor,
                     index: int) -> None:
    """The contenders do the same work: same crop -> same input to the model, bit for bit."""
    torch.manual_seed(0)
    expected = full(image)
    torch.manual_seed(0)
    if not torch.equal(expected, old_loader.dataset[index][0]):
        raise RuntimeError("the float loader and the reference give different tensors: update the reference")
    torch.manual_seed(0)
    crop = loader.dataset[index][0]
    if not torch.equal(normalise(crop[None], torch.device("cpu"))[0], expected):
        raise RuntimeError("the uint8 crops normalised on the device differ from the float pipeline's tensors")


def _row(name: str, device: str, ts: list[float], ref: list[float] | None, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"pipeline": name, "device": device, "images/s": n / median(ts),
                           "ms/image": median(ts) / n * 1e3, "rounds": len(ts), "seconds": ts}
    if ref is not None:
        lo, hi = median_ci([a / b for a, b in zip(ts, ref)])
        row["vs float loader"] = paired_ratio(ts, ref)
        row["95% CI"] = f"{lo:.3f}-{hi:.3f}"
    return row


if __name__ == "__main__":
    main()
