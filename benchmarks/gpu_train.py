"""GPU training throughput: ``cnnzoo train --data synthetic`` against a minimal timm-style step.

ResNet-50 at 224 px, batch 256, synthetic data made on the GPU, in four settings: fp32,
bf16, bf16 + channels_last, bf16 + channels_last + torch.compile; images/s and peak memory
(``torch.cuda.max_memory_allocated``). Then GoogLeNet, VGG-16, DenseNet-121 and MobileNet
v2 at their best settings (bf16 + channels_last, with and without compile).

Ours runs through the Python API that ``cnnzoo train`` calls (``cnnzoo.train(data=
"synthetic:N", ...)``), two epochs of ``--steps`` steps: the first warms up (compilation,
cuDNN autotuning), the second is the one reported, as the Trainer reports it. ``log_every``
is set to the steps per epoch, so the Trainer's one host-device sync per epoch falls on
its last step, inside its timer (it stops its clock without synchronising otherwise).

The reference is timm's training benchmark (``benchmark.py --bench train`` in timm's
repository; it is not in the wheel), written out here as an equivalent minimal step:
``timm.create_model``, SGD (momentum 0.9, Nesterov: timm's ``sgd``), cross-entropy,
autocast, ``zero_grad(); loss.backward(); step()``, same batch, same warm-up, CUDA-synced
timer. GoogLeNet, which timm lacks, uses torchvision's model with its two auxiliary heads
(as ours trains). Both run in this one process, alternating which goes first, with the same
global flags (cuDNN autotuning, TF32 for fp32 as ``cnnzoo train`` sets them).

Everything: ``python benchmarks/gpu_train.py --json gpu.json`` (about 15-25 min on one H100,
most of it compilation). Parts: ``--models resnet50 --settings fp32,bf16``. ``--smoke`` runs
the same code on the CPU with tiny settings (batch 2, 64 px, 2 steps, no compile), to test it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import tempfile
import time
from typing import Any

import torch
from torch import nn

from _common import describe, machine, print_markdown, print_table, set_threads, sync, write_json

SETTINGS = {  # name -> (precision, channels_last, compile)
    "fp32": ("fp32", False, False),
    "bf16": ("bf16", False, False),
    "bf16+cl": ("bf16", True, False),
    "bf16+cl+compile": ("bf16", True, True),
}
# ours -> (library, its name); each model's settings
REFERENCE = {"resnet50": ("timm", "resnet50"), "googlenet": ("torchvision", "googlenet"),
             "vgg16": ("timm", "vgg16"), "densenet121": ("timm", "densenet121"),
             "mobilenet_v2": ("timm", "mobilenetv2_100")}
MODEL_SETTINGS = {"resnet50": list(SETTINGS), "googlenet": ["bf16+cl", "bf16+cl+compile"],
                  "vgg16": ["bf16+cl", "bf16+cl+compile"], "densenet121": ["bf16+cl", "bf16+cl+compile"],
                  "mobilenet_v2": ["bf16+cl", "bf16+cl+compile"]}
COLUMNS = ["model", "setting", "ours img/s", "reference", "ref img/s", "ours/ref", "ours peak GB", "ref peak GB"]


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _flags(device: torch.device) -> None:
    # what cnnzoo.train sets for a non-deterministic CUDA run (cnnzoo.training.seeding.seed_everything);
    # set again before every run so that neither contender inherits the other's settings
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def _reset(device: torch.device) -> None:
    gc.collect()
    torch._dynamo.reset()  # compiled graphs of the previous run are not reused
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def run_ours(name: str, setting: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Two epochs of ``--steps`` steps through cnnzoo.train; the second epoch's images/s."""
    import cnnzoo

    precision, channels_last, compile_ = SETTINGS[setting]
    _reset(device)
    _flags(device)
    with tempfile.TemporaryDirectory(prefix="cnnzoo-gpu-train-") as out:
        result = cnnzoo.train(
            model=name, data=f"synthetic:{args.batch_size * args.steps}", epochs=2, batch_size=args.batch_size,
            input_size=args.image_size, device=str(device), precision=precision, channels_last=channels_last,
            compile=compile_, log_every=args.steps, output=out, verbose=False, seed=0,
            threads=torch.get_num_threads() if device.type == "cpu" else None)
    return {"images_per_s": result.history[-1]["images_per_s"], "peak_gb": _peak_gb(device),
            "warmup_epoch_s": result.history[0]["seconds"]}


def build_reference(name: str) -> nn.Module:
    lib, ref_name = REFERENCE[name]
    if lib == "timm":
        import timm

        return timm.create_model(ref_name, num_classes=1000)
    import torchvision

    return torchvision.models.get_model(ref_name, num_classes=1000, aux_logits=True, init_weights=True)


def _loss(out: Any, y: torch.Tensor, criterion: nn.Module) -> torch.Tensor:
    if isinstance(out, tuple):  # torchvision GoogLeNet in training: (logits, aux2, aux1), weights 1, 0.3, 0.3
        return criterion(out[0], y) + 0.3 * sum(criterion(o, y) for o in out[1:])
    return criterion(out, y)


def run_reference(name: str, setting: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """timm's benchmark.py training step, minimal: warm-up steps, then ``--steps`` timed steps."""
    precision, channels_last, compile_ = SETTINGS[setting]
    _reset(device)
    _flags(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = build_reference(name).to(device).to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    net = torch.compile(model) if compile_ else model
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device, generator=g)
    x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch_size,), device=device, generator=g)

    def step() -> None:
        with _autocast(device, precision):
            loss = _loss(net(x), y, criterion)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(args.steps):  # the warm-up epoch of ours
        step()
    sync(device)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    result = {"images_per_s": args.batch_size * args.steps / seconds, "peak_gb": _peak_gb(device),
              "warmup_epoch_s": warm}
    del net, model, opt
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(REFERENCE), help=f"comma-separated, of {', '.join(REFERENCE)}")
    ap.add_argument("--settings", help=f"comma-separated, of {', '.join(SETTINGS)} (default: each model's own)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=50, help="steps per epoch (one warm-up and one timed epoch)")
    ap.add_argument("--rounds", type=int, default=1, help="times each contender runs each setting (alternating)")
    ap.add_argument("--threads", type=int, help="CPU threads (default 1 on the CPU)")
    ap.add_argument("--smoke", action="store_true", help="CPU, batch 2, 64 px, 2 steps, no compile: a test run")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.device, args.batch_size, args.image_size, args.steps = "cpu", 2, 64, 2
    device = torch.device(args.device)
    set_threads(args.threads, device)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in REFERENCE]
    if bad or not models:
        ap.error(f"--models: choose from {', '.join(REFERENCE)} (got {args.models!r})")
    chosen = [s.strip() for s in args.settings.split(",")] if args.settings else None
    if chosen is not None and any(s not in SETTINGS for s in chosen):
        ap.error(f"--settings: choose from {', '.join(SETTINGS)} (got {args.settings!r})")
    if device.type != "cuda" and not args.smoke:
        print("# no CUDA device: this benchmark is meant for a GPU; running on the CPU as asked")
    rows = []
    turn = 0
    for name in models:
        settings = chosen or MODEL_SETTINGS[name]
        if args.smoke and chosen is None:
            settings = [s for s in settings if not SETTINGS[s][2]]  # compiling takes minutes on a CPU
        for setting in settings:
            ours: list[dict[str, Any]] = []
            ref: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                for who in (("ours", "ref") if turn % 2 == 0 else ("ref", "ours")):
                    (ours if who == "ours" else ref).append(
                        (run_ours if who == "ours" else run_reference)(name, setting, args, device))
                turn += 1
            lib, ref_name = REFERENCE[name]
            ours_ips = statistics.median(r["images_per_s"] for r in ours)
            ref_ips = statistics.median(r["images_per_s"] for r in ref)
            rows.append({"model": name, "setting": setting, "ours img/s": ours_ips, "reference": f"{lib} {ref_name}",
                         "ref img/s": ref_ips, "ours/ref": ours_ips / ref_ips,
                         "ours peak GB": ours[0]["peak_gb"], "ref peak GB": ref[0]["peak_gb"],
                         "ours runs": ours, "ref runs": ref})
            print_table(rows[-1:], COLUMNS)
    info = machine()
    print(f"\n# training throughput, {args.device}, batch {args.batch_size}, {args.image_size}px, synthetic data on "
          f"the device, {args.steps} timed steps after {args.steps} warm-up steps, median of {args.rounds} run(s) per "
          f"contender (alternating); {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
