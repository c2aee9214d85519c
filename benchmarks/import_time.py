"""Import time of cnnzoo against torch, torchvision and timm, and of `cnnzoo --help`/`list`.

Each command runs in a fresh interpreter; the commands are interleaved (torch, cnnzoo,
torchvision, ...; the order reversed every other round) and repeated after one untimed
round that warms the file cache; medians are reported, with each command's difference to
``import torch`` (which every one of them pays). Targets: ``import cnnzoo`` <= ``import
torch`` + 0.3 s; ``cnnzoo --help`` and ``cnnzoo list`` < 2 s.

Then ``python -X importtime`` names what ``import cnnzoo`` loads that ``import torch`` does
not: those modules' own import time, the slowest of them, and whether torchvision, timm,
plotting or YAML libraries were pulled in (they belong behind cnnzoo's lazy ``_LAZY`` map).

Run: python benchmarks/import_time.py [--repeats 7] [--json F] [--smoke]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import describe, machine, print_markdown, print_table, write_json

TARGET_OVER_TORCH_S = 0.3
TARGET_CLI_S = 2.0
HEAVY = ("torchvision", "timm", "matplotlib", "sklearn", "scipy", "pandas", "onnx", "onnxruntime", "safetensors",
         "yaml", "tqdm", "PIL")


def commands() -> dict[str, list[str]]:
    cli = shutil.which("cnnzoo")
    cli_cmd = [cli] if cli else [sys.executable, "-m", "cnnzoo"]
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "import cnnzoo": [sys.executable, "-c", "import cnnzoo"],
        "import torchvision": [sys.executable, "-c", "import torchvision"],
        "import timm": [sys.executable, "-c", "import timm"],
        "cnnzoo --help": [*cli_cmd, "--help"],
        "cnnzoo list": [*cli_cmd, "list"],
    }


def time_commands(cmds: dict[str, list[str]], repeats: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per run of each command (the first, cache-warming round dropped), and failures."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    errors: dict[str, str] = {}
    order = list(cmds)
    for r in range(repeats + 1):
        for name in (order if r % 2 == 0 else order[::-1]):
            if name in errors:
                continue
            t0 = time.perf_counter()
            proc = subprocess.run(cmds[name], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                errors[name] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            elif r > 0:
                times[name].append(dt)
    return times, errors


def _importtime(module: str) -> dict[str, int]:
    """Module -> self import time in microseconds, from ``python -X importtime -c "import module"``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                          text=True, check=True)
    out: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        out[name.strip()] = int(self_us)
    return out


def import_profile(module: str = "cnnzoo", top: int = 8) -> dict[str, Any]:
    """What ``import module`` loads that ``import torch`` does not: its time, slowest modules, heavy packages."""
    torch_mods, mods = _importtime("torch"), _importtime(module)
    extra = {name: us for name, us in mods.items() if name not in torch_mods}
    slowest = sorted(extra.items(), key=lambda e: -e[1])[:top]
    return {"extra_modules": len(extra), "extra_self_s": sum(extra.values()) / 1e6,
            "slowest_beyond_torch": [{"module": n, "self ms": us / 1e3} for n, us in slowest],
            "heavy_loaded": [p for p in HEAVY if p in {n.split(".")[0] for n in extra}]}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--smoke", action="store_true", help="one timed round, to test that the script runs")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    cmds = commands()
    times, errors = time_commands(cmds, args.repeats)
    if "import torch" in errors:
        raise SystemExit(f"import torch failed: {errors['import torch']}")
    base = statistics.median(times["import torch"])
    rows = []
    for name in cmds:
        if name in errors:
            rows.append({"command": name, "error": errors[name]})
            continue
        med = statistics.median(times[name])
        target = {"import cnnzoo": f"<= torch + {TARGET_OVER_TORCH_S} s",
                  "cnnzoo --help": f"< {TARGET_CLI_S} s", "cnnzoo list": f"< {TARGET_CLI_S} s"}.get(name, "")
        ok = {"import cnnzoo": med - base <= TARGET_OVER_TORCH_S, "cnnzoo --help": med < TARGET_CLI_S,
              "cnnzoo list": med < TARGET_CLI_S}.get(name)
        rows.append({"command": name, "median s": med, "vs torch s": med - base, "target": target,
                     "met": ok, "runs": times[name]})
    profile = import_profile()
    info = machine()
    print(f"# import times, median of {args.repeats} interleaved runs per command; {describe(info)}")
    (print_markdown if args.markdown else print_table)(rows, ["command", "median s", "vs torch s", "target", "met",
                                                             "error"])
    print(f"\n# python -X importtime: 'import cnnzoo' loads {profile['extra_modules']} modules that 'import torch' "
          f"does not, {profile['extra_self_s']:.3f} s of their own import time; heavy packages among them: "
          f"{', '.join(profile['heavy_loaded']) or 'none'}. The slowest:")
    print_table(profile["slowest_beyond_torch"], ["module", "self ms"])
    write_json(args.json, {"machine": info, "args": vars(args), "rows": rows, "import_profile": profile})
    return rows


if __name__ == "__main__":
    main()
