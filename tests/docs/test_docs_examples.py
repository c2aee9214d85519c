"""The examples in docs/*.md run: every Python block, and every ``cnnzoo`` command that can run offline.

Each fenced block of a page is one test, named ``page:N`` (N counts the page's fenced blocks from 1):

* ``python`` blocks run in one namespace per page, in page order (a block runs the page's earlier
  blocks first where this process has not run them yet), in a temporary working directory.
* ``bash`` and ``console`` blocks hold ``cnnzoo ...`` command lines; a block's commands run in
  order, in one fresh process and a fresh temporary directory, each as ``python -m cnnzoo`` runs
  it (``runpy.run_module("cnnzoo")``, so one interpreter start serves the block), on the CPU and
  offline. Each must exit 0; in a ``console`` block (``$ cnnzoo ...`` followed by its output) the
  output must match the page, where ``...`` stands for any text (doctest's ELLIPSIS).
* A block preceded by ``<!-- test: slow -->`` runs in the slow tier; one preceded by
  ``<!-- test: not run: REASON -->`` (a download, a data set, a GPU, several processes) does not
  run, but every ``cnnzoo`` command on every page, run or not, must parse with the CLI's own
  parser, so no page shows an option that does not exist.

Examples that load torchvision's or timm's published weights (``pretrained=True``) run the real
loading path offline: a locally generated file of the right layout is placed where cnnzoo looks
(its cache, or the Hugging Face Hub cache laid out as ``huggingface_hub`` lays it out). The
catalogue pins the published file's SHA-256, which a generated file cannot have, so the test
replaces that one entry's ``sha256`` with the generated file's (the verification still runs).
``docs/lectures.md`` has its own test (tests/docs/test_lectures_doc.py) and is skipped here.
"""

from __future__ import annotations

import dataclasses
import doctest
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import put_in_hub_cache

import cnnzoo
from cnnzoo.cli import build_parser
from cnnzoo.weights.catalogue import CATALOGUE

DOCS = Path(__file__).resolve().parents[2] / "docs"
SKIPPED_PAGES = {"lectures.md"}  # tests/docs/test_lectures_doc.py runs it
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
MARK = re.compile(r"<!--\s*test:\s*(slow|not run:\s*(?P<reason>.+?))\s*-->\s*$")
CLI_KINDS = ("bash", "console")
CHECKER = doctest.OutputChecker()

#: catalogued weights the examples load, built locally in the layout of the published file
GENERATED_WEIGHTS = {"resnet18.tv_in1k": "resnet18"}
#: timm checkpoints on the Hugging Face Hub the examples load: repository -> timm architecture
HUB_CHECKPOINTS = {"timm/resnetv2_18.ra4_e3600_r224_in1k": "resnetv2_18"}


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    number: int  # 1-based among the page's fenced blocks
    kind: str
    body: str
    slow: bool
    not_run: str | None  # the reason, for a block that does not run

    @property
    def id(self) -> str:
        return f"{self.page}:{self.number}"


def page_blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for number, m in enumerate(FENCE.finditer(text), 1):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        found.append(
            Block(
                page.name,
                number,
                m.group(1),
                m.group(2),
                slow=bool(mark and mark.group(1) == "slow"),
                not_run=mark.group("reason") if mark and mark.group("reason") else None,
            )
        )
    return found


PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in SKIPPED_PAGES)
BLOCKS = [b for p in PAGES for b in page_blocks(p)]


def params(kinds: tuple[str, ...]) -> list:
    return [
        pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.slow else [])
        for b in BLOCKS
        if b.kind in kinds and b.not_run is None
    ]


# ---------------------------------------------------------------- command lines
@dataclasses.dataclass(frozen=True)
class Command:
    argv: list[str]  # after "cnnzoo"
    env: dict[str, str]
    want: str | None  # the output the page shows (console blocks)


def commands(block: Block) -> list[Command]:
    """The ``cnnzoo`` commands of a bash or console block (a console block's with their output)."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if block.kind == "console":
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
            elif line.strip():
                raise AssertionError(f"{block.id}: a console block starts with a '$ ' command, not {line!r}")
        elif line.strip() and not line.lstrip().startswith("#"):
            steps.append((line, []))
    out = []
    for text, output in steps:
        words = shlex.split(text, comments=True)
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words or words[0] != "cnnzoo":
            raise AssertionError(
                f"{block.id}: only cnnzoo commands run; mark the block '<!-- test: not run: REASON -->' for {text!r}"
            )
        want = "\n".join(output).strip("\n") + "\n" if "".join(output).strip() else ""
        out.append(Command(words[1:], env, want if block.kind == "console" else None))
    return out


def cnnzoo_argv(line: str) -> list[str] | None:
    """The arguments of the cnnzoo command on a line (also ``torchrun ... -m cnnzoo ...``), or None."""
    words = shlex.split(line.removeprefix("$ "), comments=True)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words.pop(0)
    if words[:1] == ["cnnzoo"]:
        return words[1:]
    for i in range(len(words) - 1):
        if words[i : i + 2] == ["-m", "cnnzoo"]:
            return words[i + 2 :]
    return None


# one process per block; runpy.run_module is what `python -m cnnzoo` runs
DRIVER = r"""
import json, os, runpy, sys
for argv, env in json.loads(sys.argv[1]):
    saved = dict(os.environ)
    os.environ.update(env)
    sys.argv = ["cnnzoo", *argv]
    print("\x00begin", flush=True)
    try:
        runpy.run_module("cnnzoo", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    os.environ.clear()
    os.environ.update(saved)
    sys.stdout.flush()
    print(f"\x00end {status}", flush=True)
    if status:
        break
"""


def run_commands(cmds: list[Command], cwd: Path) -> list[tuple[int, str]]:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "CNNZOO_OFFLINE": "1"}
    plan = json.dumps([[c.argv, c.env] for c in cmds])
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, plan], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )
    results = []
    for chunk in proc.stdout.split("\x00begin\n")[1:]:
        body, _, status = chunk.rpartition("\x00end ")
        results.append((int(status.split()[0]), body))
    if len(results) < len(cmds) and (not results or results[-1][0] == 0):
        raise AssertionError(f"the commands did not all run:\n{proc.stdout}\n{proc.stderr}")
    for (status, _), cmd in zip(results, cmds):
        assert status == 0, f"`cnnzoo {shlex.join(cmd.argv)}` exited with {status}:\n{proc.stderr[-3000:]}"
    return results


@pytest.mark.parametrize("block", params(CLI_KINDS))
def test_cli_example(block, tmp_path):
    cmds = commands(block)
    assert cmds, f"{block.id} holds no cnnzoo command"
    for cmd, (_, got) in zip(cmds, run_commands(cmds, tmp_path)):
        if cmd.want is not None and cmd.want:
            assert CHECKER.check_output(cmd.want, got, doctest.ELLIPSIS), (
                f"`cnnzoo {shlex.join(cmd.argv)}` in {block.id} printed:\n{got}\nthe page shows:\n{cmd.want}"
            )


def test_every_documented_command_parses(capsys):
    """Every cnnzoo command line on every page, run or not, is accepted by the CLI's parser."""
    checked = 0
    for block in BLOCKS:
        if block.kind not in CLI_KINDS:
            continue
        for line in block.body.splitlines():
            if block.kind == "console" and not line.startswith("$ "):
                continue
            argv = cnnzoo_argv(line)
            if argv is None:
                continue
            try:
                build_parser().parse_args(argv)
            except SystemExit as e:
                pytest.fail(
                    f"{block.id}: `{line.strip()}` is not a valid cnnzoo command ({e.code}): "
                    f"{capsys.readouterr().err.strip()}"
                )
            checked += 1
    assert checked >= 20  # the pages were found and read


def test_pages_and_markers():
    """Each page is found, has examples that run, and says why a block does not run."""
    names = {p.name for p in PAGES}
    assert {"models.md", "weights.md", "training.md", "inspecting.md", "safety.md", "contributing.md"} <= names
    for page in PAGES:
        blocks = [b for b in BLOCKS if b.page == page.name]
        assert any(b.not_run is None and b.kind in ("python", *CLI_KINDS) for b in blocks), page.name
        for b in blocks:
            assert b.kind in ("python", "bash", "console", "yaml", "text"), f"{b.id}: unknown block kind {b.kind!r}"
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    assert text.count("<!-- test:") == sum(b.slow or b.not_run is not None for b in BLOCKS)  # none misplaced


def test_the_output_check_can_fail(tmp_path):
    block = Block("x.md", 1, "console", "$ cnnzoo list 'vgg1?'\nvgg11\nvgg99\n", slow=False, not_run=None)
    cmd = commands(block)[0]
    assert cmd.argv == ["list", "vgg1?"] and cmd.want == "vgg11\nvgg99\n"
    with pytest.raises(AssertionError, match="not all run|exited"):
        run_commands([Command(["list", "no-such-model*"], {}, None)], tmp_path)


# ---------------------------------------------------------------- Python blocks
@pytest.fixture(scope="module")
def weights_home(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(CNNZOO_HOME, HF_HUB_CACHE, tag -> SHA-256) holding locally generated weights files."""
    home = tmp_path_factory.mktemp("docs_home")
    (home / "weights").mkdir()
    digests = {}
    for tag, arch in GENERATED_WEIGHTS.items():
        path = home / "weights" / CATALOGUE[tag].filename
        torch.save(cnnzoo.create_model(arch).state_dict(), path)
        digests[tag] = hashlib.sha256(path.read_bytes()).hexdigest()
    hub = tmp_path_factory.mktemp("docs_hub")
    if HUB_CHECKPOINTS:
        import timm
        from safetensors.torch import save as safetensors_bytes

        for repo, arch in HUB_CHECKPOINTS.items():
            state = {k: v.contiguous() for k, v in timm.create_model(arch).state_dict().items()}
            config = {
                "architecture": arch,
                "num_classes": 1000,
                "pretrained_cfg": {
                    "input_size": [3, 224, 224],
                    "crop_pct": 0.9,
                    "interpolation": "bicubic",
                    "mean": [0.5] * 3,
                    "std": [0.5] * 3,
                },
            }
            put_in_hub_cache(
                hub, repo, {"model.safetensors": safetensors_bytes(state), "config.json": json.dumps(config).encode()}
            )
    return home, hub, digests


_NAMESPACES: dict[str, tuple[dict, list[int]]] = {}  # page -> (its namespace, the blocks run in it)


@pytest.mark.parametrize("block", params(("python",)))
@pytest.mark.filterwarnings("ignore:weights .* trusting this first copy")  # the Hub file: trust on first use
def test_python_example(block, weights_home, tmp_path_factory, monkeypatch):
    home, hub, digests = weights_home
    monkeypatch.setenv("CNNZOO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    for tag, digest in digests.items():
        # a generated file stands in for the published one: pin its hash instead (see the module docstring)
        monkeypatch.setitem(CATALOGUE, tag, dataclasses.replace(CATALOGUE[tag], sha256=digest))
    namespace, done = _NAMESPACES.setdefault(block.page, ({"__name__": "__docs__"}, []))
    workdir = tmp_path_factory.getbasetemp() / f"docs-{block.page}"
    workdir.mkdir(exist_ok=True)
    monkeypatch.chdir(workdir)
    for earlier in [
        b
        for b in BLOCKS
        if b.page == block.page
        and b.kind == "python"
        and b.not_run is None
        and b.number <= block.number
        and b.number not in done
    ]:
        done.append(earlier.number)
        exec(compile(earlier.body, f"<{earlier.id}>", "exec"), namespace)
