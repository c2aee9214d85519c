"""What a preemption costs one `cnnzoo train` process on this machine's CPU.

For each model: the time of a step (a fresh run of 1 and of N+1 steps, their difference over N); a
run that saves every 3 steps is sent SIGTERM mid-epoch (what SLURM and Kubernetes send before they
stop a job) and timed to its exit (status 143) with the step and size of the ``last.pt`` it saved;
then that checkpoint is resumed for one step, timed beside a fresh process's first step. A SIGTERM
costs no steps and one process start; a SIGKILL without notice costs, besides, the steps since the
last ``--save-every`` save.

Run: python benchmarks/preemption.py [--models lenet5:digits:32:80 resnet18:synthetic:2000:64:5]
        [--threads 2] [--json F]    (each model as NAME:DATA:INPUT_SIZE:N; DATA may hold a colon)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import describe, machine, print_table, write_json

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["model", "data", "px", "step ms", "sigterm to exit s", "exit", "saved step", "last.pt MB",
           "fresh first step s", "resumed first step s"]  # fmt: skip


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def measure(model: str, data: str, size: int, n: int, threads: int, root: Path) -> dict[str, Any]:
    from cnnzoo.weights.checkpoint import load_checkpoint

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "CUDA_VISIBLE_DEVICES": ""}
    common = ["--threads", str(threads), "--workers", "0", "--device", "cpu", "--quiet"]
    train = [sys.executable, "-m", "cnnzoo", "train", *common]
    base = [*train, "--model", model, "--data", data, "--batch-size", "16", "--input-size", str(size)]
    fresh = _timed([*base, "--epochs", "1", "--max-steps", "1", "--output", str(root / "fresh1")], env)
    longer = _timed([*base, "--epochs", "1", "--max-steps", str(n + 1), "--output", str(root / "fresh")], env)
    step = max((longer - fresh) / n, 0.0)
    out = root / "run"
    run = subprocess.Popen([*base, "--epochs", "100", "--save-every", "3", "--output", str(out)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not any(out.glob("step-*.pt")):  # the run is past its start and inside an epoch
        if run.poll() is not None:
            raise SystemExit(f"the run to preempt ended first: {run.stderr.read() if run.stderr else ''}")
        time.sleep(0.05)
    time.sleep(3 * step)
    sent = time.perf_counter()
    run.send_signal(signal.SIGTERM)
    run.communicate()
    stopped = time.perf_counter() - sent
    saved = int(load_checkpoint(out / "last.pt")["step"])
    resumed = _timed([*train, "--resume", str(out / "last.pt"), "--max-steps", str(saved + 1)], env)
    return {
        "model": model,
        "data": data,
        "px": size,
        "step ms": step * 1000,
        "sigterm to exit s": stopped,
        "exit": run.returncode,
        "saved step": saved,
        "last.pt MB": (out / "last.pt").stat().st_size / 1e6,
        "fresh first step s": fresh,
        "resumed first step s": resumed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5:digits:32:80", "resnet18:synthetic:2000:64:5"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    info = machine()
    rows = []
    for spec in args.models:
        name, *data, size, n = spec.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(name, ":".join(data), int(size), int(n), args.threads, Path(tmp)))
    print(describe(info))
    print_table(rows, COLUMNS)
    write_json(args.json, {"machine": info, "rows": rows})


if __name__ == "__main__":
    main()
