"""The examples in README.md and docs/*.md run: every Python block, and every ``cnnzoo`` command that can
run offline.

Each fenced block of a page is one test, named ``page:N`` (N counts the page's fenced blocks from 1):

* ``python`` blocks run in one namespace per page, in page order (a block runs the page's earlier
  blocks first where this process has not run them yet; a fast one leaves the slow ones out, so a
  slow block must not define what a later fast one uses), in a temporary working directory. The
  environment variables they set and the models they register are undone after each test, so a
  block that registers a model uses it itself.
* ``bash`` and ``console`` blocks hold ``cnnzoo ...`` command lines; a block's commands run in
  order, in a fresh temporary directory, each through ``cnnzoo.cli.main`` (what ``python -m cnnzoo``
  calls) in this process, on the CPU and offline. Each must exit 0; in a ``console`` block
  (``$ cnnzoo ...`` followed by its output) the output must match the page, where ``...`` stands
  for any text (doctest's ELLIPSIS).
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

import contextlib
import dataclasses
import doctest
import hashlib
import io
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import torch
from helpers import put_in_hub_cache

import cnnzoo
from cnnzoo import cli
from cnnzoo.cli import build_parser
from cnnzoo.models import registry
from cnnzoo.weights.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIPPED_PAGES = {"lectures.md"}  # tests/docs/test_lectures_doc.py runs it
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
MARK = re.compile(r"<!--\s*test:\s*(slow|not run:\s*(?P<reason>.+?))\s*-->\s*$")
CLI_KINDS = ("bash", "console")
CHECKER = doctest.OutputChecker()

#: catalogued weights the examples load, built locally in the layout of the published file
GENERATED_WEIGHTS = {"resnet18.tv_in1k": "resnet18"}
#: timm checkpoints on the Hugging Face Hub the examples load: repository -> (timm's architecture, cnnzoo's name)
HUB_CHECKPOINTS = {"timm/resnetv2_18.ra4_e3600_r224_in1k": ("resnetv2_18", "resnet18v2")}


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


PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.glob("*.md") if p.name not in SKIPPED_PAGES)]
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


def run_commands(cmds: list[Command], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What each command printed; each runs as ``cnnzoo.cli.main`` in this process, in ``cwd``, on the CPU.

    In this process rather than in ``python -m cnnzoo``: a fresh interpreter spends seconds importing
    torch, torchvision and scikit-learn per block, which this process has already paid for.
    """
    outputs = []
    threads = torch.get_num_threads()
    with monkeypatch.context() as m:
        m.chdir(cwd)
        m.setattr(torch.cuda, "is_available", lambda: False)  # the pages show CPU runs
        for cmd in cmds:
            out, err = io.StringIO(), io.StringIO()
            with monkeypatch.context() as env:
                for key, value in cmd.env.items():
                    env.setenv(key, value)
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    try:
                        status = cli.main(cmd.argv)
                    except SystemExit as e:  # argparse's own exit
                        status = e.code if isinstance(e.code, int) else 1
                    finally:
                        torch.set_num_threads(threads)  # --threads N sets it for the process
            assert status == 0, f"`cnnzoo {shlex.join(cmd.argv)}` exited with {status}:\n{err.getvalue()[-3000:]}"
            outputs.append(out.getvalue())
    return outputs


@pytest.mark.parametrize("block", params(CLI_KINDS))
def test_cli_example(block, weights_home, tmp_path, monkeypatch):
    use_weights_home(weights_home, block.body, monkeypatch)
    cmds = commands(block)
    assert cmds, f"{block.id} holds no cnnzoo command"
    for cmd, got in zip(cmds, run_commands(cmds, tmp_path, monkeypatch)):
        if cmd.want:
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
    assert {
        "README.md",
        "models.md",
        "weights.md",
        "training.md",
        "inspecting.md",
        "safety.md",
        "contributing.md",
    } <= names
    for page in PAGES:
        blocks = [b for b in BLOCKS if b.page == page.name]
        assert any(b.not_run is None and b.kind in ("python", *CLI_KINDS) for b in blocks), page.name
        for b in blocks:
            assert b.kind in ("python", "bash", "console", "yaml", "text"), f"{b.id}: unknown block kind {b.kind!r}"
    text = "\n".join(p.read_text(encoding="utf-8") for p in PAGES)
    marks = len(re.findall(r"^<!--\s*test:", text, re.M))  # at a line's start: a marker, not prose about one
    assert marks == sum(b.slow or b.not_run is not None for b in BLOCKS)  # none misplaced


def test_the_output_check_can_fail(tmp_path, monkeypatch):
    block = Block("x.md", 1, "console", "$ cnnzoo list 'vgg1?'\nvgg11\nvgg99\n", slow=False, not_run=None)
    cmd = commands(block)[0]
    assert cmd.argv == ["list", "vgg1?"] and cmd.want == "vgg11\nvgg99\n"
    with pytest.raises(AssertionError, match="exited with 2"):
        run_commands([Command(["list", "no-such-model*"], {}, None)], tmp_path, monkeypatch)


# ---------------------------------------------------------------- Python blocks
@pytest.fixture(scope="module")
def weights_home(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(CNNZOO_HOME, HF_HUB_CACHE, tag -> SHA-256 of the files generated so far)."""
    home = tmp_path_factory.mktemp("docs_home")
    (home / "weights").mkdir()
    return home, tmp_path_factory.mktemp("docs_hub"), {}


def use_weights_home(
    weights_home: tuple[Path, Path, dict[str, str]], text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point cnnzoo at locally generated weights files, each made the first time an example's ``text``
    names its model (so a page that loads no weights pays nothing), and the catalogue at their hashes."""
    home, hub, digests = weights_home
    monkeypatch.setenv("CNNZOO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    for tag, arch in GENERATED_WEIGHTS.items():
        if tag not in digests and re.search(rf"\b{arch}\b", text) and "pretrained" in text:
            path = home / "weights" / CATALOGUE[tag].filename
            torch.save(cnnzoo.create_model(arch).state_dict(), path)
            digests[tag] = hashlib.sha256(path.read_bytes()).hexdigest()
    for repo, (arch, name) in HUB_CHECKPOINTS.items():
        if repo not in digests and re.search(rf"\b{name}\b", text) and "pretrained" in text:
            put_in_hub_cache(hub, repo, timm_checkpoint(arch))
            digests[repo] = ""  # a Hub file: trusted on first use, no catalogue hash to pin
    for tag, digest in digests.items():
        if tag in CATALOGUE:
            # a generated file stands in for the published one: pin its hash instead (see the module docstring)
            monkeypatch.setitem(CATALOGUE, tag, dataclasses.replace(CATALOGUE[tag], sha256=digest))


def timm_checkpoint(arch: str) -> dict[str, bytes]:
    """The files of a timm checkpoint on the Hub: ``model.safetensors`` and ``config.json``."""
    import timm
    from safetensors.torch import save as safetensors_bytes

    state = {k: v.contiguous() for k, v in timm.create_model(arch).state_dict().items()}
    preprocessing = {"input_size": [3, 224, 224], "crop_pct": 0.9, "interpolation": "bicubic", "mean": [0.5] * 3}
    config = {"architecture": arch, "num_classes": 1000, "pretrained_cfg": {**preprocessing, "std": [0.5] * 3}}
    return {"model.safetensors": safetensors_bytes(state), "config.json": json.dumps(config).encode()}


_NAMESPACES: dict[str, tuple[dict, list[int]]] = {}  # page -> (its namespace, the blocks run in it)


@pytest.mark.parametrize("block", params(("python",)))
@pytest.mark.filterwarnings("ignore:weights .* trusting this first copy")  # the Hub file: trust on first use
def test_python_example(block, weights_home, tmp_path_factory, monkeypatch):
    namespace, done = _NAMESPACES.setdefault(block.page, ({"__name__": "__docs__"}, []))
    todo = [
        b
        for b in BLOCKS
        if b.page == block.page
        and b.kind == "python"
        and b.not_run is None
        and b.number <= block.number
        and b.number not in done
        and (block.slow or not b.slow)  # the fast tier leaves the slow blocks out
    ]
    use_weights_home(weights_home, "\n".join(b.body for b in todo), monkeypatch)
    workdir = tmp_path_factory.getbasetemp() / f"docs-{block.page}"
    workdir.mkdir(exist_ok=True)
    monkeypatch.chdir(workdir)
    environ, models = dict(os.environ), dict(registry._REGISTRY)
    try:
        for earlier in todo:
            done.append(earlier.number)
            exec(compile(earlier.body, f"<{earlier.id}>", "exec"), namespace)
    finally:
        # an example may set a variable (CNNZOO_OFFLINE=1) or register a model of its own: the
        # tests that run next in this process see neither (test_registry checks every registered
        # model's metadata)
        os.environ.clear()
        os.environ.update(environ)
        registry._REGISTRY.clear()
        registry._REGISTRY.update(models)
