"""Our modules against torchvision's and timm's: forward and forward+backward time, same input.

For every architecture torchvision or timm also ships, both models are built once, their
weights copied into ours (through the key maps ``create_model(pretrained=...)`` uses, so
both compute with identical numbers; the outputs are checked to agree), and timed in ONE
process, interleaved (ours, theirs / theirs, ours ...). Reported per mode: the medians, the
ratio (the median of the per-round ratios ours/theirs; target <= 1.02), a distribution-free
95 % interval of that median, and a verdict: ok (the interval is wholly <= target), MISS
(wholly above) or unclear (the noise is wider than the question; ``--confirm N`` adds N
rounds to such models). ``--control MODEL`` first times a model against a copy of itself:
its interval is the noise floor of the machine during the run.

The ``ops`` column compares the operators both models run in one forward+backward
(torch.profiler, with input shapes): "same" means the same kernels on the same shapes, so
any time difference is noise or memory placement; otherwise it lists the extra (+) and
missing (-) operators of ours. ``--profile N`` prints the N operators whose time differs
most, to find the cause of a ratio above the target.

Run: python benchmarks/models.py [--models 'resnet*'] [--device cpu|cuda] [--batch-size 4]
     [--image-size 112] [--repeats 7] [--threads 1] [--precision fp32|bf16] [--channels-last]
     [--confirm N] [--control MODEL] [--profile N] [--json out.json] [--markdown] [--smoke]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import fnmatch
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import cnnzoo
from _common import (describe, interleaved, machine, median, median_ci, paired_ratio, print_markdown, print_table,
                     set_threads, sync, write_json)

TORCHVISION = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
               "vgg19_bn", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
               "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2",
               "densenet121", "densenet161", "densenet169", "densenet201", "mobilenet_v2"]
TIMM = {**{f"resnet{d}v2": f"resnetv2_{d}" for d in (18, 34, 50, 101, 152)},
        **{f"se_resnet{d}": f"legacy_seresnet{d}" for d in (18, 34, 50, 101, 152)},
        "se_resnext50_32x4d": "legacy_seresnext50_32x4d",
        "se_resnext101_32x4d": "legacy_seresnext101_32x4d",
        "senet154": "legacy_senet154", "mobilenet_v1": "mobilenetv1_100"}
COLUMNS = ["model", "vs", "same output", "ops", "fwd ours ms", "fwd theirs ms", "fwd ratio", "fwd 95% CI",
           "fwd verdict", "fwd+bwd ours ms", "fwd+bwd theirs ms", "fwd+bwd ratio", "fwd+bwd 95% CI", "fwd+bwd verdict"]


def counterpart(name: str) -> tuple[str, nn.Module] | None:
    """The torchvision or timm model of the same architecture (random weights), or None."""
    if name in TORCHVISION:
        import torchvision

        kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
        return "torchvision", torchvision.models.get_model(name, **kw)
    if name in TIMM:
        try:
            import timm
        except ImportError:
            return None
        return "timm", timm.create_model(TIMM[name])
    return None


def copy_weights(theirs: nn.Module, ours: nn.Module) -> str | None:
    """Load ``theirs``' weights into ``ours`` via cnnzoo's key maps; None, or why it failed."""
    from cnnzoo.weights.keymaps import KEY_MAPS
    from cnnzoo.weights import IDENTITY_LAYOUTS, detect_layout

    state = theirs.state_dict()
    layout = detect_layout(state)
    if layout not in IDENTITY_LAYOUTS:
        state = KEY_MAPS[layout](state)
    try:
        ours.load_state_dict(state)
    except RuntimeError as e:
        return str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
    return None


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def step_fn(m: nn.Module, x: torch.Tensor, mode: str, precision: str) -> Callable[[], None]:
    """A call that runs one forward (inference mode) or one forward+backward of ``m``."""
    dev = x.device
    if mode == "fwd":
        def run() -> None:
            with torch.inference_mode(), _autocast(dev, precision):
                m(x)
    else:
        def run() -> None:
            with _autocast(dev, precision):
                out = m(x)
            out.float().sum().backward()
            m.zero_grad(set_to_none=True)
    return run


def check_outputs(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> float:
    """Max |ours(x) - theirs(x)| / max |theirs(x)| in eval mode (fp32)."""
    ours.eval()
    theirs.eval()
    with torch.inference_mode():
        a, b = ours(x).float(), theirs(x).float()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def op_counts(fn: Callable[[], None], device: torch.device) -> collections.Counter[tuple[str, str]]:
    """How often each (operator, input shapes) runs in one call of ``fn`` (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()
    sync(device)
    with profile(activities=acts, record_shapes=True) as prof:
        fn()
        sync(device)
    return collections.Counter((e.name, str(e.input_shapes)) for e in prof.events()
                               if e.device_type.name == "CPU")


def op_diff(ours: collections.Counter[tuple[str, str]], theirs: collections.Counter[tuple[str, str]]) -> str:
    """"same" if both ran the same operators on the same shapes, else the differing ops by name."""
    extra, missing = collections.Counter(), collections.Counter()
    for (name, _), n in (ours - theirs).items():
        extra[name] += n
    for (name, _), n in (theirs - ours).items():
        missing[name] += n
    if not extra and not missing:
        return "same"
    top = [f"+{n} {k}" for k, n in extra.most_common(4)] + [f"-{n} {k}" for k, n in missing.most_common(4)]
    return " ".join(top)


def profile_diff(fns: dict[str, Callable[[], None]], top: int, device: torch.device) -> None:
    """Print the operators whose self time or call count differs most between the contenders."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    stats: dict[str, dict[str, tuple[int, float]]] = {}
    for name, fn in fns.items():
        fn()
        sync(device)
        with profile(activities=acts) as prof:
            for _ in range(3):
                fn()
            sync(device)
        attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
        stats[name] = {e.key: (e.count // 3, getattr(e, attr) / 3e3) for e in prof.key_averages()}
    a, b = stats["ours"], stats["theirs"]
    rows = []
    for op in set(a) | set(b):
        (ca, ta), (cb, tb) = a.get(op, (0, 0.0)), b.get(op, (0, 0.0))
        rows.append({"op": op, "calls ours": ca, "calls theirs": cb, "ms ours": ta, "ms theirs": tb,
                     "ms diff": ta - tb})
    rows.sort(key=lambda r: (-abs(r["ms diff"]), -abs(r["calls ours"] - r["calls theirs"])))
    total_a, total_b = sum(t for _, t in a.values()), sum(t for _, t in b.values())
    print(f"  profile (self time per call, ms): ours {total_a:.1f}, theirs {total_b:.1f}")
    print_table(rows[:top], ["op", "calls ours", "calls theirs", "ms ours", "ms theirs", "ms diff"])


def verdict(lo: float, hi: float, target: float) -> str:
    """ok: the whole 95 % interval of the ratio is <= target; miss: all of it is above; else unclear."""
    return "ok" if hi <= target else ("MISS" if lo > target else "unclear")


def compare(name: str, args: argparse.Namespace, device: torch.device, control: bool = False) -> dict[str, Any] | None:
    """Time ``name`` against its counterpart (or, with ``control``, against a copy of itself)."""
    kw = {"aux_logits": False} if name == "googlenet" else {}
    ours = cnnzoo.create_model(name, **kw)
    if control:  # an A/A run: the ratio's spread is the noise floor of this machine right now
        lib, theirs = "itself (A/A)", copy.deepcopy(ours)
    else:
        other = counterpart(name)
        if other is None:
            return None
        lib, theirs = other
    load_error = copy_weights(theirs, ours)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device).contiguous(memory_format=fmt)
    models = {"ours": ours.to(device, memory_format=fmt), "theirs": theirs.to(device, memory_format=fmt)}
    row: dict[str, Any] = {"model": name, "vs": lib}
    if load_error is None:
        diff = check_outputs(ours, theirs, x)
        row["rel diff"] = diff
        row["same output"] = diff < 1e-4
    else:
        row["same output"] = f"weights not copied: {load_error}"
    for mode in ("fwd", "fwd+bwd"):
        for m in models.values():
            m.train(mode != "fwd")
        fns = {k: step_fn(m, x, mode, args.precision) for k, m in models.items()}
        if mode == "fwd+bwd":  # a superset of the forward's operators
            row["ops"] = op_diff(op_counts(fns["ours"], device), op_counts(fns["theirs"], device))
        t = interleaved(fns, device, warmup=args.warmup, repeats=args.repeats)
        ratios = [a / b for a, b in zip(t["ours"], t["theirs"])]
        if args.confirm and verdict(*median_ci(ratios), args.target) != "ok":
            more = interleaved(fns, device, warmup=0, repeats=args.confirm)  # a second, longer look
            for k in t:
                t[k] += more[k]
            ratios = [a / b for a, b in zip(t["ours"], t["theirs"])]
        lo, hi = median_ci(ratios)
        row[f"{mode} ours ms"] = median(t["ours"]) * 1e3
        row[f"{mode} theirs ms"] = median(t["theirs"]) * 1e3
        row[f"{mode} ratio"] = paired_ratio(t["ours"], t["theirs"])
        row[f"{mode} 95% CI"] = f"{lo:.3f}-{hi:.3f}"
        row[f"{mode} rounds"] = len(ratios)
        row[f"{mode} verdict"] = verdict(lo, hi, args.target)
        row[f"{mode} times"] = t
        if args.profile:
            print(f"{name} {mode}:")
            profile_diff(fns, args.profile, device)
    return row


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="*", help="shell wildcards over our model names, comma-separated")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--image-size", type=int, default=112)
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds per model and mode")
    ap.add_argument("--confirm", type=int, default=0, metavar="N",
                    help="N more rounds where the 95%% interval of a ratio is not wholly <= --target")
    ap.add_argument("--target", type=float, default=1.02, help="the ratio ours/theirs to stay under")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, help="CPU threads (default 1 on the CPU: see _common.set_threads)")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="autocast dtype")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--control", metavar="MODEL",
                    help="first time MODEL against a copy of itself (A/A): the noise floor of the run")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N most different ops per model")
    ap.add_argument("--smoke", action="store_true", help="batch 2, 32 px, 2 rounds: a test that the script runs")
    ap.add_argument("--json", help="write the rows (with every timing) to this file")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.batch_size, args.image_size, args.repeats, args.warmup, args.confirm = 2, 32, 2, 1, 0
    device = torch.device(args.device)
    set_threads(args.threads, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # both contenders get autotuned kernels
    patterns = [p.strip() for p in args.models.split(",") if p.strip()]
    names = [n for n in [*TORCHVISION, *TIMM] if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not names:
        ap.error(f"no model with a torchvision/timm counterpart matches {args.models!r}")
    if args.control and args.control not in [*TORCHVISION, *TIMM]:
        ap.error(f"--control {args.control!r} is not one of the compared models")
    rows = []
    for name, control in [*([(args.control, True)] if args.control else []), *((n, False) for n in names)]:
        row = compare(name, args, device, control=control)
        if row is None:
            continue
        rows.append(row)
        print_table([row], COLUMNS)
    info = machine()
    print(f"\n# ours vs theirs, {args.device}, {args.precision}, batch {args.batch_size}, {args.image_size}px"
          f"{', channels_last' if args.channels_last else ''}, {args.repeats} interleaved rounds"
          f"{f' (+{args.confirm} where unclear)' if args.confirm else ''}; ratio: median of per-round ratios "
          f"ours/theirs, 95% CI of that median; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    for verdict_name in ("MISS", "unclear"):
        hits = [f"{r['model']} ({m})" for r in rows for m in ("fwd", "fwd+bwd") if r[f"{m} verdict"] == verdict_name]
        print(f"# {verdict_name} (target {args.target}): {', '.join(hits) if hits else 'none'}")
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})
    return rows


if __name__ == "__main__":
    main()
