"""Write a synthetic ImageNet-style JPEG folder, for input-pipeline benchmarks and smoke tests.

Layout: ``ROOT/train/<class>/*.jpg`` and ``ROOT/val/<class>/*.jpg`` (what ``cnnzoo train
--data ROOT`` and torchvision's ImageFolder read). Each image is 300-500 px on each side
(random, independently), and its content is natural-ish rather than flat so that JPEG
sizes and decode costs are realistic: a smooth two-colour gradient, low-frequency blotches,
a few soft-edged ellipses and rectangles, mid-frequency texture and sensor-like grain.
At quality 90 the files average about 63 KB, 0.4 bytes per pixel (ImageNet's training
JPEGs: about 110 KB at about 400x350, more detail per pixel), so decoding costs per pixel
are realistic and per image slightly optimistic. Deterministic for a given ``--seed``.

Run: python scripts/make_jpeg_folder.py ROOT [--classes 10] [--train-per-class 50]
     [--val-per-class 10] [--min-size 300] [--max-size 500] [--quality 90] [--seed 0] [--threads 1] [--jobs 1]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F


def _smooth_noise(g: torch.Generator, channels: int, h: int, w: int, cells: int) -> torch.Tensor:
    """Random values on a ``cells`` x ``cells`` grid, upsampled bicubically: blotches of that scale."""
    grid = torch.rand(1, channels, cells, cells, generator=g)
    return F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)[0]


def make_image(g: torch.Generator, height: int, width: int) -> torch.Tensor:
    """One natural-ish RGB image as a uint8 tensor 3 x height x width."""
    ys = torch.linspace(0, 1, height).view(height, 1)
    xs = torch.linspace(0, 1, width).view(1, width)
    angle = float(torch.rand(1, generator=g)) * 2 * math.pi
    ramp = (math.cos(angle) * xs + math.sin(angle) * ys)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())  # 0..1 along a random direction
    c0, c1 = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
    img = c0 + (c1 - c0) * ramp  # 3 x H x W smooth gradient
    img = img + 0.35 * (_smooth_noise(g, 3, height, width, 4) - 0.5)  # large blotches ("sky", "ground")
    n_shapes = int(torch.randint(3, 9, (1,), generator=g))
    for _ in range(n_shapes):  # objects: soft-edged ellipses and rectangles in a random colour
        cy, cx = float(torch.rand(1, generator=g)), float(torch.rand(1, generator=g))
        ry, rx = (0.05 + 0.25 * torch.rand(2, generator=g)).tolist()  # radii, as fractions of the sides
        colour = torch.rand(3, 1, 1, generator=g)
        if float(torch.rand(1, generator=g)) < 0.5:
            dist = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2
        else:
            dist = torch.maximum(((ys - cy) / ry).abs(), ((xs - cx) / rx).abs()) ** 2
        mask = torch.sigmoid((1 - dist) * 12)  # a soft edge a few pixels wide
        shading = 0.8 + 0.4 * _smooth_noise(g, 1, height, width, 3)
        img = img * (1 - mask) + colour * shading * mask
    img = img + 0.12 * (_smooth_noise(g, 3, height, width, 48) - 0.5)  # texture (foliage, fabric)
    img = img + 0.16 * (_smooth_noise(g, 1, height, width, 120) - 0.5)  # fine detail
    img = img + 0.04 * torch.randn(3, height, width, generator=g)  # grain
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a data set is readable like any file
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def make_folder(root: str | os.PathLike[str], *, classes: int = 10, train_per_class: int = 50,
                val_per_class: int = 10, min_size: int = 300, max_size: int = 500, quality: int = 90,
                seed: int = 0, threads: int = 1, jobs: int = 1) -> dict[str, float]:
    """Write the folder; returns counts and the mean file size in KB.

    Runs with ``threads`` torch threads (restored afterwards): the images are small, and on a
    busy machine two OpenMP threads spin-waiting for a shared core make it 10x slower.
    ``jobs`` processes write classes in parallel (each image's seed fixes it: the same files).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size} and {max_size}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    if classes < 1 or train_per_class < 0 or val_per_class < 0:
        raise ValueError("need at least one class and non-negative image counts")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    root = Path(root)
    for split in ("train", "val"):
        if (root / split).exists() and any((root / split).iterdir()):
            raise FileExistsError(f"{root / split} exists and is not empty; choose another ROOT or delete it")
    tasks = [(root, split, split_id, c, per_class, min_size, max_size, quality, seed, threads)
             for split, per_class, split_id in (("train", train_per_class, 0), ("val", val_per_class, 1))
             for c in range(classes)]
    if jobs == 1:
        done = [_write_class(*t) for t in tasks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(_write_class, *zip(*tasks)))
    total_bytes, count = sum(b for b, _ in done), sum(n for _, n in done)
    return {"images": count, "classes": classes, "mean_kb": total_bytes / max(count, 1) / 1024}


def _write_class(root: Path, split: str, split_id: int, c: int, per_class: int, min_size: int, max_size: int,
                 quality: int, seed: int, threads: int) -> tuple[int, int]:
    """One class folder of one split: (bytes written, images)."""
    import warnings

    with warnings.catch_warnings():
        # torchvision 0.29 announces that torchcodec will take over image coding; until it
        # does, torchvision.io is the encoder every torchvision install has (as in cnnzoo.data)
        warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
        from torchvision.io import encode_jpeg

    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        folder = root / split / f"n{c:08d}"  # WordNet-id-like names, as in ImageNet
        folder.mkdir(parents=True, exist_ok=True)
        total = 0
        for i in range(per_class):
            g = torch.Generator().manual_seed(((seed * 2 + split_id) * 100_003 + c) * 1_000_003 + i)
            h, w = torch.randint(min_size, max_size + 1, (2,), generator=g).tolist()
            data = encode_jpeg(make_image(g, h, w), quality=quality).numpy().tobytes()
            _write_atomic(folder / f"{split}_{c:04d}_{i:05d}.jpg", data)
            total += len(data)
        return total, per_class
    finally:
        torch.set_num_threads(threads_before)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="the folder to create (train/ and val/ inside)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--train-per-class", type=int, default=50)
    ap.add_argument("--val-per-class", type=int, default=10)
    ap.add_argument("--min-size", type=int, default=300, help="smallest side length in pixels")
    ap.add_argument("--max-size", type=int, default=500, help="largest side length in pixels")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality (1-100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--jobs", type=int, default=1, help="processes writing classes in parallel (same files)")
    args = ap.parse_args(argv)
    try:
        stats = make_folder(args.root, classes=args.classes, train_per_class=args.train_per_class,
                            val_per_class=args.val_per_class, min_size=args.min_size, max_size=args.max_size,
                            quality=args.quality, seed=args.seed, threads=args.threads, jobs=args.jobs)
    except (ValueError, FileExistsError) as e:
        print(f"make_jpeg_folder: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {stats['images']} JPEGs in {stats['classes']} classes to {args.root} "
          f"(mean {stats['mean_kb']:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
