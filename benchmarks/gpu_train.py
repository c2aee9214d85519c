"""GPU training throughput through ``cnnzoo train``, against timm's training step; JPEG input; a resume.

The parts of ``benchmarks/gpu_check.sh`` (each writes ``--json``, row by row, so a part cut short
by its time limit keeps what it measured):

* **synthetic** (default): each model and setting (fp32, bf16, bf16+cl = channels-last,
  bf16+cl+compile) trained by ``cnnzoo train`` on ``--data synthetic`` (random batches made once
  on the GPU: the model's speed alone), then by a minimal timm training step (``--reference``).
  Ours runs the options of a ``cnnzoo train`` command line (parsed by cnnzoo's own parser, printed
  with each row) through ``cnnzoo.train`` with an ``on_step`` clock; the run is stopped right after
  its timed steps (no validation, nothing saved). timm's ``benchmark.py --bench train`` is not in
  its wheel, so its step is written out: ``timm.create_model``, SGD (momentum 0.9, Nesterov, as
  timm's ``sgd``), cross-entropy, autocast, ``zero_grad(); backward(); step()``; GoogLeNet, which
  timm lacks, is torchvision's with both auxiliary heads (as ours trains).
* **JPEG** (``--data DIR --decode cpu,gpu``): the same ``cnnzoo train`` on an image folder, the
  loader's workers decoding (cpu) or nvJPEG on the GPU (gpu); with the GPU's busy % (NVML) over
  the timed steps, and the loader alone (no model) as the pipeline's capacity.
* ``--resume-check DIR``: three ``python -m cnnzoo train --deterministic`` processes (2 epochs;
  1 epoch; that one resumed to 2): the weights must be identical.
* ``--report DIR``: the final table of gpu_check.sh's results against the targets.

Timing: a CUDA event is recorded after every optimiser step, without waiting for the GPU; the
intervals between consecutive events (within an epoch, after ``--warmup`` steps) are the GPU's
time per step, idle gaps included. images/s is the batch over the median interval; the JPEG rows
also give the mean (total images over total time), which counts the stalls a median hides. On
the CPU (``--smoke``) the clock is ``time.perf_counter`` (the step is over when the hook runs).

Run: python benchmarks/gpu_train.py [--models resnet50] [--settings bf16+cl,fp32] [--reference bf16+cl]
     [--data synthetic|DIR] [--decode cpu,gpu] [--steps 30] [--warmup 10] [--json F] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from _common import REPO, describe, machine, print_markdown, print_table, set_threads, write_json

SETTINGS = {  # name -> (precision, channels_last, compile)
    "fp32": ("fp32", False, False),
    "bf16": ("bf16", False, False),
    "bf16+cl": ("bf16", True, False),
    "bf16+cl+compile": ("bf16", True, True),
}
# ours -> (library, its name)
REFERENCE = {"resnet50": ("timm", "resnet50"), "googlenet": ("torchvision", "googlenet"),
             "vgg16": ("timm", "vgg16"), "densenet121": ("timm", "densenet121"),
             "mobilenet_v2": ("timm", "mobilenetv2_100")}
COLUMNS = ["part", "model", "setting", "who", "decode", "img/s", "mean img/s", "steps", "peak GB", "GPU busy %",
           "note", "error"]


class Enough(Exception):
    """Raised by the step clock after the timed steps: the run ends there (no validation, no checkpoint)."""


class StepClock:
    """An ``on_step`` hook that marks the end of every optimiser step without waiting for the device."""

    def __init__(self, device: torch.device, warmup: int, steps: int, batch_size: int) -> None:
        self.device, self.warmup, self.steps, self.batch_size = device, warmup, steps, batch_size
        self.marks: list[tuple[int, Any, float]] = []  # (epoch, CUDA event or clock time, host time)
        self.timed = 0

    def __call__(self, trainer: Any) -> None:
        self.mark(trainer.epoch)
        if self.timed >= self.steps:
            raise Enough

    def mark(self, epoch: int) -> None:
        if self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)
            event.record()
        else:
            event = time.perf_counter()
        self.marks.append((epoch, event, time.perf_counter()))
        if len(self.marks) > self.warmup + 1 and self.marks[-2][0] == epoch:
            self.timed += 1

    def intervals(self) -> tuple[list[float], list[tuple[float, float]]]:
        """Seconds of the timed steps, and the host-time windows they span (one per epoch)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        out: list[float] = []
        windows: dict[int, tuple[float, float]] = {}
        for i in range(self.warmup + 1, len(self.marks)):
            (e0, a, start), (e1, b, end) = self.marks[i - 1], self.marks[i]
            if e0 != e1:  # an epoch boundary: validation and the loader's restart, not a step
                continue
            out.append(a.elapsed_time(b) / 1e3 if self.device.type == "cuda" else b - a)
            windows[e1] = (windows.get(e1, (start, end))[0], end)
        return out, list(windows.values())

    def result(self) -> dict[str, Any]:
        secs, windows = self.intervals()
        if not secs:
            return {"error": "no timed steps"}
        return {"img/s": self.batch_size / statistics.median(secs), "steps": len(secs),
                "mean img/s": self.batch_size * len(secs) / sum(secs), "windows": windows}


class Utilisation:
    """The GPU's busy % (NVML, as nvidia-smi reports it), sampled every 0.2 s in a thread."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.samples, self._stop = device, [], threading.Event()
        self.read = self._reader() if device.type == "cuda" else None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _reader(self) -> Any:
        try:
            torch.cuda.utilization(self.device)
            return lambda: torch.cuda.utilization(self.device)
        except Exception:  # no pynvml: ask nvidia-smi
            cmd = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                   "-i", str(self.device.index or 0)]
            try:
                subprocess.run(cmd, capture_output=True, check=True, timeout=10)
            except (OSError, subprocess.SubprocessError):
                return None
            return lambda: float(subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip())

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(Exception):
                self.samples.append((time.perf_counter(), float(self.read())))

    def __enter__(self) -> Utilisation:
        if self.read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def mean(self, windows: list[tuple[float, float]]) -> float | None:
        """The mean busy % of the samples inside the windows (the timed steps, not the epochs' ends)."""
        inside = [u for t, u in self.samples if any(a <= t <= b for a, b in windows)]
        return statistics.mean(inside) if inside else None


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


# ---------------------------------------------------------------- ours: cnnzoo train
def train_argv(name: str, setting: str, args: argparse.Namespace, data: str, decode: str, out: str) -> list[str]:
    """The ``cnnzoo train`` command line of a row."""
    precision, channels_last, compile_ = SETTINGS[setting]
    argv = ["train", "--model", name, "--data", data, "--batch-size", str(args.batch_size), "--input-size",
            str(args.image_size), "--device", args.device, "--precision", precision,
            "--channels-last" if channels_last else "--no-channels-last", "--epochs", str(args.epochs),
            "--log-every", "100000", "--seed", "0", "--output", out, "--quiet"]
    if compile_:
        argv.append("--compile")
    if data != "synthetic" and not data.startswith("synthetic:"):
        argv += ["--decode", decode]
        argv += ["--workers", str(args.workers)] if args.workers is not None else []
    if args.device == "cpu":
        argv += ["--threads", str(torch.get_num_threads())]
    return argv


def run_ours(name: str, setting: str, args: argparse.Namespace, device: torch.device, data: str,
             decode: str = "cpu") -> dict[str, Any]:
    """``cnnzoo train`` of one row, stopped after its timed steps; images/s from the step clock."""
    import cnnzoo
    from cnnzoo.cli import build_parser

    _reset(device)
    _flags(device)
    if data == "synthetic":  # one epoch long enough for the warm-up and the timed steps
        data = f"synthetic:{args.batch_size * (args.warmup + args.steps + 2)}"
    with tempfile.TemporaryDirectory(prefix="cnnzoo-gpu-train-") as out:
        argv = train_argv(name, setting, args, data, decode, out)
        ns = vars(build_parser().parse_args(argv))  # exactly what the command line gives cnnzoo.train
        options = {k: v for k, v in ns.items() if k not in ("func", "command", "config", "resume")}
        clock = StepClock(device, args.warmup, args.steps, args.batch_size)
        with Utilisation(device) as busy:
            try:
                cnnzoo.train(**options, on_step=clock)
            except Enough:
                pass
    row = clock.result()
    windows = row.pop("windows", None)
    command = "cnnzoo " + shlex.join(a if a != out else "OUT" for a in argv)
    return {**row, "peak GB": _peak_gb(device), "GPU busy %": busy.mean(windows) if windows else None,
            "command": command}


# ---------------------------------------------------------------- the reference: timm's training step
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
    """timm's ``benchmark.py --bench train`` step, minimal, on the same synthetic batch and clock."""
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
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    clock = StepClock(device, args.warmup, args.steps, args.batch_size)
    for _ in range(args.warmup + args.steps + 1):
        with amp:
            loss = _loss(net(x), y, criterion)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clock.mark(0)
    row = clock.result()
    row.pop("windows", None)
    lib, ref_name = REFERENCE[name]
    del net, model, opt
    return {**row, "peak GB": _peak_gb(device), "command": f"{lib} {ref_name}: the step above"}


# ---------------------------------------------------------------- the input pipeline alone
def run_loader(args: argparse.Namespace, device: torch.device, data: str, decode: str) -> dict[str, Any]:
    """images/s of the training loader with its device transform, no model: the pipeline's capacity."""
    from cnnzoo.data import build_data, default_workers, device_transform, feed, parse_data_spec, reads_ahead

    spec = parse_data_spec(data)
    workers = args.workers if args.workers is not None else default_workers(spec.kind, device)
    bundle = build_data(spec, image_size=args.image_size, in_chans=3, batch_size=args.batch_size, workers=workers,
                        device=device, decode=decode)
    loader = bundle.train_loader
    rates = []
    for epoch in range(2):  # the first starts the workers
        loader.sampler.set_epoch(epoch)
        n, t0 = 0, time.perf_counter()
        for x, _ in feed(loader, device, device_transform(loader), channels_last=True,
                         ahead=reads_ahead(loader, device)):
            n += len(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(n / (time.perf_counter() - t0))
    return {"img/s": rates[-1], "mean img/s": rates[-1], "steps": len(loader), "note": f"{workers} workers"}


# ---------------------------------------------------------------- a deterministic resume
def resume_check(data: str, device: str, smoke: bool) -> dict[str, Any]:
    """2 epochs, against 1 epoch resumed to 2, in three ``python -m cnnzoo train --deterministic`` processes."""
    model, size, batch, workers = ("lenet5", "32", "4", "0") if smoke else ("resnet18", "64", "32", "2")
    base = [sys.executable, "-m", "cnnzoo", "train", "--model", model, "--data", data, "--input-size", size,
            "--batch-size", batch, "--workers", workers, "--limit-batches", "3", "--schedule", "step",
            "--step-size", "1", "--gamma", "0.5", "--seed", "1", "--deterministic", "--device", device, "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory(prefix="cnnzoo-resume-") as tmp:
        # the 2-epoch run and the 1-epoch run side by side (each deterministic alone), then the resumption
        first = [[*base, "--epochs", "2", "--output", f"{tmp}/full"],
                 [*base, "--epochs", "1", "--output", f"{tmp}/cut"]]
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
                 for argv in first]
        results = [(argv, *p.communicate(), p.returncode) for argv, p in zip(first, procs)]
        resume = [sys.executable, "-m", "cnnzoo", "train", "--resume", f"{tmp}/cut/last.pt", "--epochs", "2", "--quiet"]
        if all(rc == 0 for *_, rc in results):
            proc = subprocess.run(resume, capture_output=True, text=True, env=env, cwd=REPO)
            results.append((resume, proc.stdout, proc.stderr, proc.returncode))
        for argv, _, err, rc in results:
            if rc != 0:
                return {"identical": False, "error": f"{shlex.join(argv[2:])}: {err.strip()[-500:]}"}
        a, b = (torch.load(f"{tmp}/{d}/last.pt", weights_only=True, map_location="cpu")["model"]
                for d in ("full", "cut"))
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    return {"identical": not differ and a.keys() == b.keys(), "tensors": len(a), "differ": differ[:5],
            "command": "cnnzoo " + shlex.join(base[3:])}


# ---------------------------------------------------------------- gpu_check.sh's table
# one H200, bf16: images/s of ResNet-50, the ratio to timm's train.py, JPEG input's share of synthetic data's rate
TARGET_IMG_S, TARGET_VS_TIMM, TARGET_JPEG = 3500.0, 1.0, 0.80


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _fmt(x: Any, digits: int | None = None) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits if digits is not None else (0 if abs(x) >= 100 else 2)}f}"


def report(out: Path, markdown: bool = True) -> list[dict[str, Any]]:
    """The final table of a gpu_check.sh run: every measurement, then the targets with verdicts."""
    rows: list[dict[str, Any]] = []
    tests = (out / "tests.log").read_text().strip().splitlines() if (out / "tests.log").exists() else []
    summary = next((line.strip("= ") for line in reversed(tests) if " in " in line and ("passed" in line or
                    "skipped" in line or "failed" in line or "error" in line)), "did not run")
    bad = any(w in summary for w in ("failed", "error")) or summary == "did not run"
    rows.append({"check": "cuda-marked tests", "result": summary, "target": "all pass", "verdict":
                 "MISS" if bad else ("ok" if "passed" in summary else "skipped")})
    parts = {name: _load(out / f"{name}.json").get("rows", [])
             for name in ("synthetic", "compile", "jpeg", "others")}
    timed = parts["synthetic"] + parts["compile"] + parts["others"]
    ours = {(r["model"], r["setting"]): r for r in timed if r.get("who") == "cnnzoo"}
    refs = {(r["model"], r["setting"]): r for r in timed if r.get("who") != "cnnzoo"}
    for r in timed + parts["jpeg"]:
        if r["part"] == "loader":
            what = f"JPEG loader alone (no model), --decode {r['decode']}"
        else:
            what = f"{r['model']} {r['part']}, {r['setting']}" + (f", --decode {r['decode']}" if r.get("decode")
                                                                  else "") + f", {r['who']}"
        result = f"{_fmt(r.get('img/s'))} img/s"
        if r["part"] != "loader":
            result += f" (mean {_fmt(r.get('mean img/s'))}), peak {_fmt(r.get('peak GB'), 1)} GB"
        if r.get("GPU busy %") is not None:
            result += f", GPU busy {_fmt(r['GPU busy %'], 0)} %"
        if r.get("img/s") and r.get("note"):
            result += f" ({r['note']})"
        rows.append({"check": what, "result": r.get("error") or (result if r.get("img/s") else r.get("note", "")),
                     "target": "", "verdict": "MISS" if r.get("error") else ""})
    best = max((r for (m, s), r in ours.items() if m == "resnet50" and SETTINGS[s][0] == "bf16" and r.get("img/s")),
               key=lambda r: r["img/s"], default=None)
    rows.append({"check": "ResNet-50 synthetic, best bf16 setting", "target": f">= {TARGET_IMG_S:,.0f} img/s",
                 "result": f"{_fmt(best['img/s'])} img/s ({best['setting']})" if best else "not measured",
                 "verdict": "-" if best is None else ("ok" if best["img/s"] >= TARGET_IMG_S else "MISS")})
    for (m, s), r in ours.items():
        ref = refs.get((m, s))
        if ref and r.get("img/s") and ref.get("img/s"):
            ratio = r["img/s"] / ref["img/s"]
            rows.append({"check": f"{m} {s}: cnnzoo / {ref['who']}", "result": f"{ratio:.3f}",
                         "target": f">= {TARGET_VS_TIMM:.1f}" if m == "resnet50" else "",
                         "verdict": ("ok" if ratio >= TARGET_VS_TIMM else "MISS") if m == "resnet50" else ""})
    jpeg = [r for r in parts["jpeg"] if r.get("part") == "jpeg" and r.get("mean img/s")]
    for r in jpeg:
        synth = ours.get((r["model"], r["setting"]))
        if synth and synth.get("mean img/s"):
            ratio = r["mean img/s"] / synth["mean img/s"]
            rows.append({"check": f"{r['model']} JPEG --decode {r['decode']} / synthetic ({r['setting']}, means)",
                         "result": f"{100 * ratio:.0f} %", "target": f">= {100 * TARGET_JPEG:.0f} %",
                         "verdict": "ok" if ratio >= TARGET_JPEG else "MISS"})
    resume = _load(out / "resume.json").get("resume")
    rows.append({"check": "resume with --deterministic: identical weights", "target": "identical",
                 "result": "not run" if resume is None else (resume.get("error") or
                                                             f"{'identical' if resume['identical'] else 'DIFFERENT'} "
                                                             f"({resume.get('tensors')} tensors)"),
                 "verdict": "-" if resume is None else ("ok" if resume.get("identical") else "MISS")})
    stages = (out / "stages.txt").read_text().split() if (out / "stages.txt").exists() else []
    if stages:
        rows.append({"check": "gpu_check.sh stages (s, exit status)", "result": " ".join(stages), "target": "",
                     "verdict": ""})
    info = _load(out / "synthetic.json").get("machine") or machine()
    print(f"\n# gpu_check: {describe(info)}")
    (print_markdown if markdown else print_table)(rows, ["check", "result", "target", "verdict"])
    return rows


# ---------------------------------------------------------------- the parts
def _rows_synthetic(args: argparse.Namespace, device: torch.device, emit: Any) -> None:
    for name in args.models:
        for setting in args.settings:
            emit({"part": "synthetic", "model": name, "setting": setting, "who": "cnnzoo"},
                 lambda n=name, s=setting: run_ours(n, s, args, device, "synthetic"))
            if setting in args.reference:
                lib, ref = REFERENCE[name]
                emit({"part": "synthetic", "model": name, "setting": setting, "who": f"{lib} {ref}"},
                     lambda n=name, s=setting: run_reference(n, s, args, device))


def _rows_jpeg(args: argparse.Namespace, device: torch.device, emit: Any) -> None:
    for decode in args.decode:
        if decode == "gpu" and device.type != "cuda":
            emit({"part": "jpeg", "model": args.models[0], "setting": args.settings[0], "who": "cnnzoo",
                  "decode": decode, "note": "--decode gpu: needs CUDA"}, None)
            continue
        emit({"part": "loader", "model": "-", "setting": f"--decode {decode}", "who": "cnnzoo", "decode": decode},
             lambda d=decode: run_loader(args, device, args.data, d))
        for name in args.models:
            emit({"part": "jpeg", "model": name, "setting": args.settings[0], "who": "cnnzoo", "decode": decode},
                 lambda n=name, d=decode: run_ours(n, args.settings[0], args, device, args.data, d))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet50", help=f"comma-separated, of {', '.join(REFERENCE)}")
    ap.add_argument("--settings", default="bf16+cl", help=f"comma-separated, of {', '.join(SETTINGS)}")
    ap.add_argument("--reference", default=None, help="settings that also run timm's step (default: all; none: -)")
    ap.add_argument("--data", default="synthetic", help="synthetic, or an image folder (the JPEG part)")
    ap.add_argument("--decode", default="cpu,gpu", help="the JPEG part's --decode values")
    ap.add_argument("--workers", type=int, help="loader workers of the JPEG part (default: cnnzoo's)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=30, help="timed steps (after the warm-up)")
    ap.add_argument("--warmup", type=int, default=10, help="steps before the timed ones (compilation, autotuning)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs of the runs (the JPEG part needs several)")
    ap.add_argument("--deadline", type=float, help="a time.time(): rows that would start after it are skipped")
    ap.add_argument("--threads", type=int, help="CPU threads (default 1 on the CPU)")
    ap.add_argument("--smoke", action="store_true", help="CPU, batch 2, 64 px, 3 steps, no compile: a test run")
    ap.add_argument("--resume-check", metavar="DATA", help="only the deterministic resume check, on this data")
    ap.add_argument("--report", metavar="DIR", help="only print the final table of gpu_check.sh's results in DIR")
    ap.add_argument("--json", help="write the rows to this file (after every row)")
    ap.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    args = ap.parse_args(argv)
    if args.report:
        return report(Path(args.report), markdown=args.markdown)
    if args.smoke:
        args.device, args.batch_size, args.image_size, args.steps, args.warmup = "cpu", 2, 64, 3, 1
    device = torch.device(args.device)
    set_threads(args.threads, device)
    if args.resume_check:
        result = resume_check(args.resume_check, args.device, args.smoke)
        print(json.dumps(result, indent=1))
        write_json(args.json, {"machine": machine(), "args": vars(args), "resume": result})
        return [result]
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    args.decode = [d.strip() for d in args.decode.split(",") if d.strip()]
    args.reference = args.settings if args.reference is None else [s for s in args.reference.split(",") if s != "-"]
    bad = [m for m in args.models if m not in REFERENCE] + [s for s in args.settings + args.reference
                                                            if s not in SETTINGS]
    if bad or not args.models or any(d not in ("cpu", "gpu") for d in args.decode):
        ap.error(f"--models of {', '.join(REFERENCE)}, --settings of {', '.join(SETTINGS)}, --decode cpu,gpu; "
                 f"got {bad or args.decode}")
    if args.smoke:
        args.settings = [s for s in args.settings if not SETTINGS[s][2]] or ["bf16+cl"]  # compiling takes minutes
        args.reference = [s for s in args.reference if s in args.settings]
    info, rows = machine(), []

    def emit(row: dict[str, Any], fn: Any) -> None:
        if fn is not None and args.deadline is not None and time.time() > args.deadline:
            row["note"] = "skipped: gpu_check.sh's time budget"
        elif fn is not None:
            try:
                row.update(fn())
            except Exception as e:  # one failing row (out of memory, a compile error) does not end the part
                row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"
        rows.append(row)
        print_table([row], COLUMNS)
        if "command" in row:
            print(f"  {row['command']}")
        write_json(args.json, {"machine": info, "args": vars(args), "rows": rows})

    (_rows_synthetic if args.data == "synthetic" else _rows_jpeg)(args, device, emit)
    print(f"\n# training throughput, {args.device}, batch {args.batch_size}, {args.image_size}px, data {args.data}, "
          f"images/s over the median of {args.steps} steps after {args.warmup}; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, COLUMNS)
    return rows


if __name__ == "__main__":
    main()
