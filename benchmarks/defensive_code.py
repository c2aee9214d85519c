"""How much of cnnzoo's source is defensive code, by one fixed, mechanical measure.

A line counts as defensive when it is part of a ``raise`` statement, of an ``if`` block (without
``else``) whose body ends by raising, or of an ``except`` handler that raises: the checks, guards
and refusals, not the work they protect. Docstrings and comments inside those blocks count too, so
the measure is of the blocks as written. The measure is the same for every commit, so a change
that moves a check to a shared boundary shows as fewer lines, and one that only reflows text does
not change the number of blocks (``raise`` sites are reported beside the lines).

Run: python benchmarks/defensive_code.py [SRC] [--top N] [--rev COMMIT] [--json F]
(``--rev`` measures ``src/`` as it was at a commit, read with ``git show``, the working tree untouched.)
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import write_json

REPO = Path(__file__).resolve().parents[1]


def defensive_lines(source: str) -> tuple[set[int], int]:
    """The line numbers of ``source``'s defensive blocks, and its number of ``raise`` statements."""
    lines: set[int] = set()
    raises = 0
    for node in ast.walk(ast.parse(source)):
        end = getattr(node, "end_lineno", None) or getattr(node, "lineno", 0)
        if isinstance(node, ast.Raise):
            raises += 1
            lines.update(range(node.lineno, end + 1))
        elif isinstance(node, ast.If) and node.body and isinstance(node.body[-1], ast.Raise) and not node.orelse:
            lines.update(range(node.lineno, end + 1))
        elif isinstance(node, ast.ExceptHandler) and any(isinstance(b, ast.Raise) for b in node.body):
            lines.update(range(node.lineno, end + 1))
    return lines, raises


def _sources(root: Path | None, rev: str | None) -> Iterator[tuple[str, str]]:
    if rev is None:
        assert root is not None
        for path in sorted(root.rglob("*.py")):
            yield str(path.relative_to(root)), path.read_text()
        return
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", "src"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in sorted(n for n in names if n.endswith(".py")):
        text = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=REPO, capture_output=True, text=True, check=True)
        yield name.removeprefix("src/"), text.stdout


def measure(root: Path | None = None, rev: str | None = None) -> dict[str, Any]:
    """Totals and per-file counts of ``root`` (a folder of .py files) or of ``src/`` at commit ``rev``."""
    files: dict[str, dict[str, int]] = {}
    for name, text in _sources(root, rev):
        lines, raises = defensive_lines(text)
        files[name] = {"defensive_lines": len(lines), "raises": raises, "lines": len(text.splitlines())}
    total = {key: sum(f[key] for f in files.values()) for key in ("defensive_lines", "raises", "lines")}
    return {"total": total, "files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", type=Path, default=REPO / "src")
    parser.add_argument("--rev", help="measure src/ at this commit instead of the working tree")
    parser.add_argument("--top", type=int, default=15, help="list the N files with the most defensive lines")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(None if args.rev else args.src, args.rev)
    t = result["total"]
    print(f"defensive lines {t['defensive_lines']:,} in {t['lines']:,} lines; raise statements {t['raises']}")
    ranked = sorted(result["files"].items(), key=lambda kv: -kv[1]["defensive_lines"])
    for name, f in ranked[: args.top]:
        print(f"  {f['defensive_lines']:5d} lines {f['raises']:4d} raises  {name}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
