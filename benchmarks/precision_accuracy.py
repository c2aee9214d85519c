"""Validation top-1 of the same training run in fp32 and in bf16 autocast, over several seeds.

bf16 autocast rounds convolution and matmul inputs to an 8-bit mantissa; whether that costs
accuracy is a question of the run, not of one step's error, so this trains the same recipe
with ``--precision fp32`` and ``--precision bf16`` for each seed (interleaved: fp32 then bf16
for seed 0, then seed 1 ...) and reports the mean and spread of the final and best top-1 of
each. The difference of the means is then compared with the seed-to-seed spread: a
difference well inside it is "within run-to-run noise".

Each run goes through :func:`cnnzoo.train`, in this process, with the run's defaults except
what the options below set. bf16 is asked for explicitly, so a processor without native bf16
runs it too (slowly, through emulated kernels: same numbers, other speed).

Run: python benchmarks/precision_accuracy.py --model lenet5 [--seeds 0,1,2] [--epochs 10]
     [--threads 1] [--set key=value ...] [--json F] [--markdown]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from _common import describe, machine, print_markdown, print_table, write_json

import cnnzoo

COLUMNS = ["model", "precision", "seeds", "final top-1 mean", "final top-1 sd", "final min-max", "best top-1 mean",
           "best top-1 sd", "s per run"]


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--epochs", type=int, help="(default: the run's default)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="another train setting")
    ap.add_argument("--json", help="write the runs and the rows to this file")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    precisions = args.precisions.split(",")
    extra = {k.replace("-", "_"): _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.epochs is not None:
        extra["epochs"] = args.epochs
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cnnzoo-prec-") as tmp:
        for seed in seeds:
            for precision in precisions:
                t0 = time.perf_counter()
                result = cnnzoo.train(model=args.model, seed=seed, precision=precision, device="cpu",
                                      threads=args.threads, output=f"{tmp}/{seed}-{precision}", verbose=False,
                                      **extra)
                run = {"seed": seed, "precision": precision, "final_top1": result.history[-1]["val_top1"],
                       "best_top1": result.best_top1, "seconds": time.perf_counter() - t0}
                runs.append(run)
                print(run, flush=True)
    rows = []
    for precision in precisions:
        mine = [r for r in runs if r["precision"] == precision]
        final = [r["final_top1"] for r in mine]
        best = [r["best_top1"] for r in mine]
        rows.append({"model": args.model, "precision": precision, "seeds": len(mine),
                     "final top-1 mean": statistics.mean(final),
                     "final top-1 sd": statistics.stdev(final) if len(final) > 1 else 0.0,
                     "final min-max": f"{min(final):.2f}-{max(final):.2f}",
                     "best top-1 mean": statistics.mean(best),
                     "best top-1 sd": statistics.stdev(best) if len(best) > 1 else 0.0,
                     "s per run": statistics.median(r["seconds"] for r in mine)})
    info = machine()
    print(f"\n# {args.model}: fp32 vs bf16 validation top-1 over seeds {args.seeds}, settings {extra}; "
          f"{describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    if len(rows) == 2:  # the difference of the means beside the seed-to-seed spread it is judged against
        (a, b), key = rows, "final top-1 mean"
        print(f"\n{b['precision']} - {a['precision']}: {b[key] - a[key]:+.2f} points final top-1 "
              f"(seed-to-seed sd {a['final top-1 sd']:.2f} and {b['final top-1 sd']:.2f})")
    write_json(args.json, {"machine": info, "args": vars(args), "runs": runs, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
