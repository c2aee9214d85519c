"""End to end on a CPU: ``cnnzoo train`` against timm's ``train.py`` and torchvision's reference ``train.py``.

All contenders train the same model for the same epochs on the same generated image folder
(``scripts/make_jpeg_folder.py``: ``--classes`` class folders of natural-ish JPEGs of
``--min-size``..``--max-size`` px under ``train/`` and ``val/``), with the same
batch size, loader workers and threads (``OMP_NUM_THREADS``, and each script's own thread
option where it has one), each as a fresh process: what a user waits for, from the command to
its exit (imports, data, the epochs, validation, checkpoints). The contenders run interleaved,
their order rotated every round, after one untimed round that warms the file cache; the table
gives each one's median wall time with min-max, images/s (training images over the median) and
the median of the per-round ratios against ``cnnzoo train``'s first row.

Neither library ships its script in its wheel: give the files of a checkout
(``--timm-train pytorch-image-models/train.py``, ``--torchvision-train
vision/references/classification/train.py``, which needs its neighbours presets.py, utils.py,
transforms.py and sampler.py); a contender without its script is left out and said so.

``cnnzoo`` rows: ``--cnnzoo "auto"`` is the default run (the precision the CPU chooses), and
more rows are more option sets, e.g. ``--cnnzoo "auto" --cnnzoo "--precision fp32" --cnnzoo
"--compile"``.

Run: python benchmarks/race.py [--model resnet18] [--timm-model resnet18] [--image-size 64]
     [--train-per-class 16] [--val-per-class 8] [--classes 4] [--min-size 80] [--max-size 120]
     [--batch-size 16] [--workers 1] [--threads 1] [--epochs 1] [--rounds 3] [--timm-train F] [--torchvision-train F]
     [--cnnzoo OPTIONS ...] [--json F] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, describe, machine, print_markdown, print_table, write_json

sys.path.insert(0, str(REPO / "scripts"))
from make_jpeg_folder import make_folder  # noqa: E402

COLUMNS = ["contender", "command", "wall s median", "wall s min-max", "train img/s", "ratio vs first", "rounds"]


def commands(args: argparse.Namespace, data: Path, out: Path) -> dict[str, list[str]]:
    """The command line of each contender (``OUT`` replaced by a fresh folder per run)."""
    py, b, j, e, s = sys.executable, str(args.batch_size), str(args.workers), str(args.epochs), str(args.image_size)
    runs: dict[str, list[str]] = {}
    for options in args.cnnzoo or ["auto"]:
        extra = [] if options == "auto" else shlex.split(options)
        runs[f"cnnzoo {options}"] = [py, "-m", "cnnzoo", "train", "--model", args.model, "--data", str(data),
                                     "--epochs", e, "--batch-size", b, "--workers", j, "--threads",
                                     str(args.threads), "--input-size", s, "--device", "cpu", "--output",
                                     str(out), "--quiet", *extra]
    if args.timm_train:
        runs["timm train.py"] = [py, args.timm_train, "--data-dir", str(data), "--train-split", "train",
                                 "--val-split", "val", "--model", args.timm_model or args.model,
                                 "--num-classes", str(args.classes), "--img-size", s, "--epochs", e, "-b", b,
                                 "-j", j, "--device", "cpu", "--output", str(out)]
    if args.torchvision_train:
        runs["torchvision train.py"] = [py, args.torchvision_train, "--data-path", str(data), "--model",
                                        args.model, "--epochs", e, "-b", b, "-j", j, "--device", "cpu",
                                        "--output-dir", str(out), "--train-crop-size", s, "--val-resize-size", s,
                                        "--val-crop-size", s]
    return runs


def run_once(cmd: list[str], out: Path, threads: int) -> float:
    """Wall seconds of one contender's process; a failing run is an error with its last lines."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return seconds


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--timm-model", help="timm's name of the model (default: --model)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--train-per-class", type=int, default=16)
    ap.add_argument("--val-per-class", type=int, default=8)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--min-size", type=int, default=80, help="smallest image side in the folder, px")
    ap.add_argument("--max-size", type=int, default=120, help="largest image side in the folder, px")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timm-train", help="timm's train.py (from a checkout of pytorch-image-models)")
    ap.add_argument("--torchvision-train", help="torchvision's references/classification/train.py")
    ap.add_argument("--cnnzoo", action="append", help="a cnnzoo row: 'auto' or its extra options (repeatable)")
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    for flag, path in (("--timm-train", args.timm_train), ("--torchvision-train", args.torchvision_train)):
        if path is None:
            print(f"{flag} not given: that contender is left out (its script is not in its wheel)")
        elif not Path(path).is_file():
            ap.error(f"{flag} {path}: no such file")
    with tempfile.TemporaryDirectory(prefix="cnnzoo-race-") as tmp:
        data = Path(tmp, "data")
        make_folder(data, classes=args.classes, train_per_class=args.train_per_class,
                    val_per_class=args.val_per_class, min_size=args.min_size, max_size=args.max_size)
        runs = commands(args, data, Path(tmp, "OUT"))
        names = list(runs)
        times: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.rounds + 1):  # round 0 warms the file cache and is not counted
            order = names[r % len(names):] + names[: r % len(names)]
            for n in order:
                seconds = run_once(runs[n], Path(tmp, "OUT"), args.threads)
                subprocess.run(["rm", "-rf", str(Path(tmp, "OUT"))], check=True)
                if r > 0:
                    times[n].append(seconds)
                print(f"round {r} {n}: {seconds:.2f} s{'' if r else ' (warm-up)'}", flush=True)
    first = names[0]
    rows = [{"contender": n, "command": shlex.join(runs[n][1:]).replace(tmp, "TMP"),
             "wall s median": statistics.median(times[n]),
             "wall s min-max": f"{min(times[n]):.2f}-{max(times[n]):.2f}",
             "train img/s": args.classes * args.train_per_class * args.epochs / statistics.median(times[n]),
             "ratio vs first": statistics.median(a / b for a, b in zip(times[n], times[first])),
             "rounds": args.rounds} for n in names]
    info = machine()
    print(f"\n# race: {args.model}, {args.image_size} px, batch {args.batch_size}, {args.workers} worker(s), "
          f"{args.threads} thread(s), {args.epochs} epoch(s) of {args.classes} x ({args.train_per_class} + "
          f"{args.val_per_class}) images; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "times": times, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
