"""docs/lectures.md is true: every command on the page runs and prints what the page shows.

The page holds two kinds of fenced blocks: ``console`` blocks of ``$ cnnzoo ...`` commands, each
followed by its output, and ``pycon`` blocks of ``>>>`` examples (doctest's format). Each command
runs in this process (``cnnzoo.cli.main``, in a temporary working directory, offline, on the
CPU) and each example in one namespace for the page; the output must match the page, where
``...`` stands for any text (doctest's ELLIPSIS: timings, elided rows). So every number on the
page is checked. After a deliberate change of output, rewrite the page's outputs with
``PYTHONPATH=src python tests/docs/test_lectures_doc.py`` and read the diff.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "lectures.md"
FENCE = re.compile(r"^```(console|pycon)\n(.*?)^```$", re.S | re.M)
CHECKER = doctest.OutputChecker()
FLAGS = doctest.ELLIPSIS


def blocks(text: str) -> list[tuple[str, str, int, int]]:
    """(kind, body, start, end) of each console/pycon block."""
    return [(m.group(1), m.group(2), m.start(2), m.end(2)) for m in FENCE.finditer(text)]


def console_steps(body: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block starts with output, not a command: {line!r}")
    return [(cmd, "\n".join(out).strip("\n") + "\n" if "".join(out).strip() else "") for cmd, out in steps]


def run_command(command: str) -> str:
    from cnnzoo import cli

    argv = shlex.split(command)
    if argv[0] != "cnnzoo":
        raise ValueError(f"only cnnzoo commands run on the page, got {command!r}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv[1:])
    if status != 0:
        raise AssertionError(f"`{command}` exited with {status}: {err.getvalue()}")
    return out.getvalue()


def run_examples(body: str, globs: dict) -> list[tuple[doctest.Example, str]]:
    """Each example with what it printed (its repr for an expression), as doctest runs it."""
    results = []
    for ex in doctest.DocTestParser().get_examples(body):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            old_hook = sys.displayhook
            sys.displayhook = lambda v: None if v is None else print(repr(v))
            try:
                exec(compile(ex.source, "<lectures.md>", "single"), globs)
            finally:
                sys.displayhook = old_hook
        results.append((ex, out.getvalue()))
    return results


def render(text: str) -> tuple[str, list[str]]:
    """The page with every output as it is now (kept where the page's own still matches, so its
    ``...`` elisions stay), and the mismatches found."""
    globs: dict = {}
    pieces, pos, problems = [], 0, []
    for kind, body, start, end in blocks(text):
        pieces.append(text[pos:start])
        pos = end
        if kind == "console":
            lines = []
            for cmd, want in console_steps(body):
                got = run_command(cmd)
                if not CHECKER.check_output(want, got, FLAGS):
                    problems.append(f"$ {cmd}\n--- the page:\n{want}--- now:\n{got}")
                    want = got
                lines.append(f"$ {cmd}\n{want}")
            pieces.append("".join(lines))
        else:
            lines = []
            for ex, got in run_examples(body, globs):
                want = ex.want
                if not CHECKER.check_output(want, got, FLAGS):
                    problems.append(f">>> {ex.source}--- the page:\n{want}--- now:\n{got}")
                    want = got
                src = ex.source.rstrip("\n").split("\n")
                lines.append("".join([f">>> {src[0]}\n", *(f"... {s}\n" for s in src[1:]), want]))
            pieces.append("".join(lines))
    pieces.append(text[pos:])
    return "".join(pieces), problems


def _setup(workdir: Path) -> contextlib.AbstractContextManager:
    stack = contextlib.ExitStack()
    old = os.getcwd()
    os.chdir(workdir)
    stack.callback(os.chdir, old)
    os.environ.setdefault("CNNZOO_OFFLINE", "1")
    import torch

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False  # the page shows CPU runs
    stack.callback(setattr, torch.cuda, "is_available", real)
    torch.manual_seed(0)
    return stack


@pytest.mark.slow  # every command and example of the page: about 11 s
def test_the_lectures_page_is_true(tmp_path):
    text = PAGE.read_text(encoding="utf-8")
    found = blocks(text)
    assert sum(k == "console" for k, *_ in found) >= 5 and sum(k == "pycon" for k, *_ in found) >= 5  # parsed
    with _setup(tmp_path):
        _, problems = render(text)
    assert not problems, (
        "docs/lectures.md differs from what the commands print now "
        "(rewrite it with: PYTHONPATH=src python tests/docs/test_lectures_doc.py):\n\n" + "\n\n".join(problems)
    )


def test_the_checker_catches_a_wrong_number():
    page = "```pycon\n>>> 6 * 7\n41\n```\n```console\n$ cnnzoo list 'vgg1?'\nvgg11\n...\n```\n"
    _, problems = render(page)
    assert len(problems) == 1 and "41" in problems[0]


if __name__ == "__main__":  # rewrite the page's outputs from what the commands print now
    import tempfile

    with tempfile.TemporaryDirectory() as d, _setup(Path(d)):
        new, problems = render(PAGE.read_text(encoding="utf-8"))
    PAGE.write_text(new, encoding="utf-8")
    print(f"{PAGE}: {len(problems)} output(s) rewritten")
