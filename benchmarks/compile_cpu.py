"""torch.compile on a CPU: what ``cnnzoo train --compile`` costs up front and saves per step.

For each model, ``cnnzoo.train`` runs on ``--data synthetic`` (batches made once in memory: the
model's speed alone) eager and with ``--compile`` (inductor's C++/OpenMP backend), the two
interleaved over ``--rounds`` rounds, each in this process after ``torch._dynamo.reset()``.
An ``on_step`` hook reads the clock after every optimiser step; the run stops after its timed
steps (no validation, nothing saved).

* **first step**: from the call of ``cnnzoo.train`` to the end of its first step (setup, and
  with ``--compile`` the tracing and the C++ build of the forward and the backward);
* **compile s**: the compiled run's first step minus the eager run's (the compile time alone);
* **step ms**: the median of the timed steps, after ``--warmup`` steps;
* **break-even steps**: compile s over the time a compiled step saves; a run of fewer steps
  (times the ~2 extra compiles of validation, which switches BatchNorm and Dropout to eval
  mode: a second graph) is faster eager.

Inductor's on-disk caches (FX graph, AOT autograd) are turned off, so every compile is a cold
one, as a user's first run of a model is; a second run of the same model and shapes with the
caches on compiles faster. Medians over the rounds, with min-max.

Run: python benchmarks/compile_cpu.py [--models lenet5:32,resnet18] [--image-size 64] [--batch-size 16]
     [--steps 10] [--warmup 3] [--rounds 2] [--threads 1] [--precision fp32] [--json F] [--markdown]
"""

from __future__ import annotations

import os

os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")  # a cold compile each time: before torch is imported
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")

import argparse
import gc
import statistics
import tempfile
import time
from typing import Any

import torch
from _common import describe, machine, print_markdown, print_table, set_threads, write_json

import cnnzoo

COLUMNS = ["model", "input", "batch", "precision", "eager first step s", "compiled first step s", "compile s",
           "eager step ms", "compiled step ms", "speed-up", "break-even steps", "rounds"]


class Enough(Exception):
    """Raised by the step clock after the timed steps: the run ends there."""


def run(name: str, size: int, compile_: bool, args: argparse.Namespace) -> dict[str, float]:
    """One ``cnnzoo.train`` run: seconds to its first step's end, and the median timed step."""
    gc.collect()
    torch._dynamo.reset()
    marks: list[float] = []

    def on_step(trainer: Any) -> None:
        marks.append(time.perf_counter())
        if len(marks) > args.warmup + args.steps:
            raise Enough

    with tempfile.TemporaryDirectory(prefix="cnnzoo-compile-") as out:
        t0 = time.perf_counter()
        try:
            cnnzoo.train(model=name, data=f"synthetic:{args.batch_size * (args.warmup + args.steps + 2)}",
                         input_size=size, batch_size=args.batch_size, epochs=1, device="cpu",
                         threads=args.threads, precision=args.precision, compile=compile_, seed=0, output=out,
                         log_every=100_000, verbose=False, on_step=on_step)
        except Enough:
            pass
    steps = [b - a for a, b in zip(marks[args.warmup:], marks[args.warmup + 1:])]
    return {"first": marks[0] - t0, "step": statistics.median(steps)}


def _span(xs: list[float], fmt: str) -> str:
    mid = statistics.median(xs)
    return format(mid, fmt) if len(xs) == 1 else f"{mid:{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="lenet5:32,resnet18", help="NAME[:PIXELS],... (LeNet-5 takes 32 only)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    set_threads(args.threads, torch.device("cpu"))
    rows, raw = [], []
    for spec in args.models.split(","):
        name, _, pixels = spec.partition(":")
        size = int(pixels or args.image_size)
        got: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for r in range(args.rounds):
            for compile_ in ((False, True) if r % 2 == 0 else (True, False)):  # alternate which goes first
                got[compile_].append(run(name, size, compile_, args))
                raw.append({"model": name, "compile": compile_, "round": r, **got[compile_][-1]})
                print(raw[-1], flush=True)
        eager, comp = got[False], got[True]
        compile_s = [c["first"] - e["first"] for e, c in zip(eager, comp)]
        saved = statistics.median(e["step"] for e in eager) - statistics.median(c["step"] for c in comp)
        rows.append({"model": name, "input": size, "batch": args.batch_size, "precision": args.precision,
                     "eager first step s": _span([e["first"] for e in eager], ".2f"),
                     "compiled first step s": _span([c["first"] for c in comp], ".2f"),
                     "compile s": _span(compile_s, ".1f"),
                     "eager step ms": _span([1e3 * e["step"] for e in eager], ".1f"),
                     "compiled step ms": _span([1e3 * c["step"] for c in comp], ".1f"),
                     "speed-up": statistics.median(e["step"] for e in eager)
                     / statistics.median(c["step"] for c in comp),
                     "break-even steps": statistics.median(compile_s) / saved if saved > 0 else "never",
                     "rounds": args.rounds})
    info = machine()
    print(f"\n# torch.compile on the CPU, {args.threads} thread(s); {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "runs": raw, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
