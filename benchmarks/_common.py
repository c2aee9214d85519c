"""Shared timing helpers for the benchmarks: warm-up, interleaving, medians, machine info.

Every benchmark compares contenders in ONE process, interleaved, because the machines
they run on are shared and noisy: absolute times drift by 2x while the ratio of two
contenders timed side by side stays put. Rounds alternate the order (A B, B A, A B ...)
so that neither contender always runs right after the other's cache footprint, and the
reported ratio is the median of the per-round ratios (noise within a round hits both).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so timers see all of it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def set_threads(threads: int | None, device: torch.device) -> int:
    """Fix the CPU thread count (default 1 on the CPU) and return it.

    One thread by default: on a 2-core machine shared with other jobs, two OpenMP threads
    spin-wait for each other whenever one core is taken, and a ResNet-18 forward goes from
    50 ms to 450-750 ms with a spread that swamps any comparison; one thread per process
    measures work, not scheduling. ``--threads N`` measures N.
    """
    if threads is None:
        threads = 1 if device.type == "cpu" else torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def interleaved(fns: dict[str, Callable[[], Any]], device: torch.device, *, warmup: int = 2,
                repeats: int = 7, inner: int = 1) -> dict[str, list[float]]:
    """Time each contender ``repeats`` times in alternating order; seconds per call.

    Round r runs the contenders in the given order when r is even and reversed when r is
    odd (A B, B A, ...), each ``inner`` calls between two synchronisations. Warm-up calls
    (not timed) are interleaved the same way.
    """
    order = list(fns)
    for _ in range(warmup):
        for name in order:
            fns[name]()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            fn = fns[name]
            sync(device)
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) / inner)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i]: the ratio of two contenders timed in the same round."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired_ratio needs two equally long, non-empty lists, got {len(a)} and {len(b)}")
    return statistics.median(x / y for x, y in zip(a, b))


def median_ci(xs: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval for the median: two order statistics.

    With n samples, [x_(k), x_(n+1-k)] covers the true median with probability
    1 - 2 P(Binomial(n, 1/2) < k); k is the largest that keeps this >= ``confidence``
    (k = 1, the full range, when n is too small to reach it: 5 samples give 94 %).
    """
    from math import comb

    s, n = sorted(xs), len(xs)
    if n == 0:
        raise ValueError("median_ci needs at least one sample")
    k = 1
    while k < (n + 1) // 2:
        tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n  # P(B < k + 1)
        if 1 - 2 * tail < confidence:
            break
        k += 1
    return s[k - 1], s[n - k]


def machine() -> dict[str, Any]:
    """Date, versions, CPU model and cores, threads, GPU, load average and git commit."""
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True, check=True, cwd=REPO).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True, cwd=REPO).stdout.strip()
        info["dirty"] = bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        info["commit"], info["dirty"] = None, None
    return info


def describe(info: dict[str, Any]) -> str:
    """One line naming the machine and the code a table was measured on."""
    gpu = f", {info['cuda']}" if info.get("cuda") else ""
    commit = f"{info['commit']}{' + uncommitted changes' if info.get('dirty') else ''}"
    load = f", load {info['load_avg_1min']:.1f}" if info.get("load_avg_1min") is not None else ""
    return (f"{info['cpu']} ({info['cores']} cores, {info['threads']} threads{load}){gpu}, torch {info['torch']}, "
            f"{info['date']}, commit {commit}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` (if given) with cnnzoo's one writer (:mod:`cnnzoo.atomic`)."""
    if not path:
        return
    from cnnzoo.atomic import atomic_write

    atomic_write(path, json.dumps(payload, indent=2))


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as an aligned text table of ``columns`` (floats with 3 decimals)."""
    widths = {c: max([len(c), *(len(_fmt(r.get(c))) for r in rows)]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns).rstrip())


def print_markdown(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as a Markdown table (for RESULTS.md)."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for r in rows:
        print("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |")


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return "" if v is None else str(v)
