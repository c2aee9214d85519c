"""Images/s of cnnzoo's Trainer against a minimal hand-written training loop, side by side.

Both train copies of the same model on the same batches, already in memory (a list of
``(images, labels)`` tensors: no loader work), with the same precision, the same optimiser
(SGD, Nesterov momentum 0.9, weight decay 5e-4: the TrainConfig defaults) and the same
thread count. The Trainer runs through its public API, one ``fit(epochs=1)`` per round, and
its images/s is the one it reports (``history[-1]``: the time of the batch loop only, so
its checkpoint, CSV and plot at the end of each epoch are not counted); the hand loop is
``out = model(x); loss = cross_entropy(out, y); loss.backward(); opt.step();
opt.zero_grad()``, timed the same way. Rounds alternate which goes first; the overhead is
the median of the per-round ratios minus 1 (target <= 3 % on the CPU).

Two models by default: ResNet-18 (a realistic step, where the loop's own work vanishes)
and LeNet-5 on 32 px (a step of a few ms: the worst case for per-step Python overhead).

Run: python benchmarks/trainer.py [--models resnet18,lenet5] [--batch-size 8] [--image-size 112]
     [--batches 10] [--repeats 7] [--threads 1] [--precision fp32|bf16] [--json F] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import tempfile
import time
from typing import Any

import torch
from torch import nn

import cnnzoo
from _common import (describe, machine, median, median_ci, paired_ratio, print_markdown, print_table, set_threads,
                     sync, write_json)

COLUMNS = ["model", "input", "batch", "trainer img/s", "hand loop img/s", "overhead %", "95% CI %", "rounds"]


def hand_loop(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], optimizer: torch.optim.Optimizer,
              precision: str, device: torch.device) -> float:
    """One epoch of the minimal loop over ``batches``; returns its seconds."""
    criterion = nn.CrossEntropyLoss()
    ctx = (contextlib.nullcontext() if precision == "fp32"
           else torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16))
    model.train()
    sync(device)
    t0 = time.perf_counter()
    for x, y in batches:
        with ctx:
            loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - t0


def compare(name: str, args: argparse.Namespace, device: torch.device, out_dir: str) -> dict[str, Any]:
    from cnnzoo.training import TrainConfig, Trainer

    info = cnnzoo.model_info(name)
    chans = info["input_size"][0]
    size = info["input_size"][1] if info["fixed_input_size"] else args.image_size
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(args.batch_size, chans, size, size, generator=g).to(device),
                torch.randint(0, 10, (args.batch_size,), generator=g).to(device)) for _ in range(args.batches)]
    model = cnnzoo.create_model(name)
    theirs = copy.deepcopy(model).to(device)  # the same initial weights
    cfg = TrainConfig(model=name, epochs=args.repeats + args.warmup, batch_size=args.batch_size, device=args.device,
                      precision=args.precision, threads=torch.get_num_threads(), channels_last=False,
                      output=out_dir, verbose=False)
    trainer = Trainer(model, batches, None, cfg, model_name=name, log=lambda _msg: None)
    opt = torch.optim.SGD(theirs.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    images = args.batch_size * args.batches
    ours_s: list[float] = []
    hand_s: list[float] = []
    for r in range(args.warmup + args.repeats):
        timed = r >= args.warmup
        for who in (("trainer", "hand") if r % 2 == 0 else ("hand", "trainer")):
            if who == "trainer":
                trainer.fit(epochs=1)
                # the trainer's own figure: images / seconds of its batch loop
                seconds = images / trainer.history[-1]["images_per_s"]
                if timed:
                    ours_s.append(seconds)
            else:
                seconds = hand_loop(theirs, batches, opt, args.precision, device)
                if timed:
                    hand_s.append(seconds)
    ratios = [a / b for a, b in zip(ours_s, hand_s)]
    lo, hi = median_ci(ratios)
    return {"model": name, "input": f"{chans}x{size}x{size}", "batch": args.batch_size,
            "trainer img/s": images / median(ours_s), "hand loop img/s": images / median(hand_s),
            "overhead %": (paired_ratio(ours_s, hand_s) - 1) * 100, "95% CI %": f"{(lo - 1) * 100:+.1f} to "
            f"{(hi - 1) * 100:+.1f}", "rounds": len(ratios), "trainer s": ours_s, "hand s": hand_s}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet18,lenet5", help="comma-separated registered models")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=112, help="(models with a fixed input size use theirs)")
    ap.add_argument("--batches", type=int, default=10, help="batches per epoch (one timed round)")
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (epochs) of each")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--threads", type=int, help="CPU threads (default 1 on the CPU: see _common.set_threads)")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--smoke", action="store_true", help="tiny settings, to test that the script runs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.batch_size, args.image_size, args.batches, args.repeats, args.warmup = 2, 32, 2, 2, 1
    device = torch.device(args.device)
    set_threads(args.threads, device)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in cnnzoo.list_models()]
    if unknown or not names:
        ap.error(f"not registered models: {', '.join(unknown) or '(none given)'}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnzoo-bench-") as tmp:
        for i, name in enumerate(names):
            rows.append(compare(name, args, device, f"{tmp}/{i}-{name}"))
            print_table(rows[-1:], COLUMNS)
    info = machine()
    print(f"\n# Trainer vs hand loop, {args.device}, {args.precision}, {args.batches} batches per round, "
          f"{args.repeats} interleaved rounds after {args.warmup} warm-up; overhead: median of per-round time "
          f"ratios - 1; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
