"""What a user sees for each case of the hostile-input catalogue, as real processes.

Not a test (pytest does not collect it: the assertions live in the ``test_*_hostile.py`` files
beside each concern's tests, and their neighbours); a report. Each case runs ``cnnzoo ...`` (or
``python -c``) in a fresh process on files it makes in a temporary folder, and prints one
Markdown row: the case, the exit status and the last line on stderr (or, for a case where the
fix is that nothing goes wrong, what was checked afterwards). Run it from the checkout:

    python tests/cli/hostile_cases.py > cases.md      # about 3 minutes on 2 cores
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

QUICK = ["--quiet", "--limit-batches", "1", "--batch-size", "8", "--threads", "1", "--workers", "0"]
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}


def run(
    argv: list[str] | list[bytes],
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    shell: bool = False,
    pick: str | None = None,
) -> tuple[int, str]:
    """Exit status and the last line on stderr (the last one holding ``pick``, if given)."""
    cmd = argv if shell else [sys.executable, "-m", "cnnzoo", *argv]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        env=env or ENV,
        timeout=600,
        shell=shell,
        input=(stdin or "").encode(),
        executable="/bin/bash" if shell else None,
    )
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    picked = [line for line in err if pick is None or pick in line]
    tail = picked[-1] if picked else "(nothing on stderr)"
    if any("Traceback" in line for line in err):
        tail = "TRACEBACK: " + tail
    return proc.returncode, tail


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def image_folder(root: Path, bad: dict[str, bytes]) -> Path:
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.new("RGB", (20, 20), (60 * c, 10 * i, 0)).save(root / split / name / f"{i}.jpg")
    for fname, content in bad.items():
        (root / "train" / "cat" / fname).write_bytes(content)
    return root


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cnnzoo-cases-"))
    rows: list[tuple[str, str, str]] = []

    def case(name: str, fn: Callable[[], tuple[int, str] | str]) -> None:
        result = fn()
        code, text = ("", result) if isinstance(result, str) else (str(result[0]), result[1])
        rows.append((name, code, text.replace("|", "\\|")))
        print(f"{name}: {code} {text}", file=sys.stderr, flush=True)

    # a finished run to start from
    done = tmp / "done"
    assert run(["train", "--epochs", "1", "--output", str(done), *QUICK])[0] == 0
    lenet = tmp / "lenet5.pth"
    import cnnzoo

    torch.save(cnnzoo.create_model("lenet5").state_dict(), lenet)
    img = tmp / "digit.png"
    Image.new("L", (16, 16), 128).save(img)

    # ---- 1-3: files destroyed or corrupted
    def users_tmp() -> str:
        out = tmp / "own"
        out.mkdir()
        (out / ".notes.tmp").write_text("mine")
        code, _ = run(["train", "--epochs", "1", "--output", str(out), *QUICK])
        return f"exit {code}; the user's .notes.tmp is {'kept' if (out / '.notes.tmp').exists() else 'DELETED'}"

    case("1. `--output DIR` holding the user's own `.notes.tmp`", users_tmp)

    def second_run() -> tuple[int, str]:
        before = (done / "last.pt").read_bytes()
        code, line = run(["train", "--epochs", "1", "--output", str(done), *QUICK])
        same = (done / "last.pt").read_bytes() == before
        return code, f"{line} [last.pt {'unchanged' if same else 'REPLACED'}]"

    case("2. a second run without --resume into a finished run's folder", second_run)
    case(
        "2. the same with `--overwrite`",
        lambda: run(["train", "--epochs", "1", "--overwrite", "--output", str(done), *QUICK]),
    )

    def diverged() -> tuple[int, str]:
        out = tmp / "diverged"
        code, line = run(["train", "--epochs", "2", "--lr", "1e30", "--output", str(out), *QUICK])
        saved = sorted(p.name for p in out.glob("*.pt")) if out.exists() else []
        return code, f"{line} [checkpoints written: {saved or 'none'}]"

    case("3. divergence first seen in validation (`--lr 1e30`)", diverged)

    # ---- 4-6: corrupt or tampered files
    def flipped(path: Path, argv: Callable[[Path], list[str]]) -> Callable[[], tuple[int, str]]:
        def go() -> tuple[int, str]:
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x10
            bad = tmp / f"flipped-{path.name}"
            bad.write_bytes(bytes(data))
            return run(argv(bad))

        return go

    case(
        "4. one flipped bit in a training checkpoint (`--resume`)",
        flipped(done / "last.pt", lambda p: ["train", "--resume", str(p), *QUICK]),
    )
    case(
        "4. one flipped bit in a weights file (`predict --pretrained FILE`)",
        flipped(lenet, lambda p: ["predict", str(img), "--model", "lenet5", "--pretrained", str(p)]),
    )

    # ---- 7: damaged images (the decoder)
    bad_images = {
        "short_idat.png": png_with(64, 64, zlib.compress(b"\x00" * 100)[:-4]),
        "huge_header.png": png_with(60000, 60000, zlib.compress(b"\x00" * 10)),
        "truncated.jpg": b"",
        "empty.jpg": b"",
        "text.jpg": b"these are my notes\n",
    }
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="JPEG")
    bad_images["truncated.jpg"] = buf.getvalue()[: len(buf.getvalue()) // 2]
    bomb = io.BytesIO()
    Image.new("1", (16000, 16000)).save(bomb, format="PNG")
    bad_images["bomb_16000.png"] = bomb.getvalue()
    for fname, content in bad_images.items():
        path = tmp / fname
        path.write_bytes(content)
        case(
            f"7. `predict` on {fname} ({len(content):,} bytes)",
            lambda p=path: run(["predict", str(p), "--model", "lenet5"]),
        )
    for fname in ("short_idat.png", "huge_header.png"):
        folder = image_folder(tmp / f"folder-{fname}", {fname: bad_images[fname]})
        case(
            f"7. `train` on a folder holding {fname}",
            lambda f=folder, n=fname: run(
                [
                    "train",
                    "--data",
                    str(f),
                    "--model",
                    "lenet5",
                    "--epochs",
                    "1",
                    "--output",
                    str(tmp / f"run-{n}"),
                    *QUICK,
                ]
            ),
        )
        case(
            "7. the same with `--bad-images skip`",
            lambda f=folder, n=fname: run(
                [
                    "train",
                    "--data",
                    str(f),
                    "--model",
                    "lenet5",
                    "--epochs",
                    "1",
                    "--bad-images",
                    "skip",
                    "--output",
                    str(tmp / f"skip-{n}"),
                    *QUICK[1:],
                ],
                pick="skip",
            ),
        )
    gif = tmp / "gifs"
    image_folder(gif, {})
    frames = [Image.new("RGB", (20, 20), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(gif / "train" / "cat" / "anim.gif", save_all=True, append_images=frames[1:])
    case(
        "`predict` on an animated GIF",
        lambda: run(["predict", str(gif / "train" / "cat" / "anim.gif"), "--model", "lenet5"]),
    )
    case(
        "an animated GIF in an image folder",
        lambda: run(["train", "--data", str(gif), "--epochs", "1", "--output", str(tmp / "gifrun"), *QUICK]),
    )

    # ---- 8-10: crashes of the whole process
    case("8. `--threads 100000`", lambda: run(["train", "--threads", "100000", "--quiet"]))
    case("8. `--workers 100000`", lambda: run(["train", "--workers", "100000", "--quiet"]))
    bomb_yaml = tmp / "bomb.yaml"
    bomb_yaml.write_text(
        "milestones: [&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
        "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], "
        "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e]]\n"
    )
    case("9. a 400-byte YAML of nested aliases", lambda: run(["train", "--config", str(bomb_yaml)]))
    cifar = tmp / "cifar" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    # protocol 2: GLOBAL __builtin__ bytearray, then bytearray(2**44) -> REDUCE
    evil = b"\x80\x02c__builtin__\nbytearray\nq\x00\x8a\x06\x00\x00\x00\x00\x00\x10\x85q\x01Rq\x02."
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (cifar / name).write_bytes(evil)
    case(
        "10. a CIFAR batch asking for bytearray(2**44)",
        lambda: run(["train", "--data", f"cifar10:{tmp / 'cifar'}", "--output", str(tmp / "cifarrun"), *QUICK]),
    )

    # ---- tracebacks that are now one line
    empty = tmp / "empty.pth"
    empty.write_bytes(b"")
    case(
        "a zero-byte weights file", lambda: run(["predict", str(img), "--model", "lenet5", "--pretrained", str(empty)])
    )
    sd = cnnzoo.create_model("lenet5").state_dict()
    intkeys = tmp / "intkeys.pth"
    torch.save({1: next(iter(sd.values()))}, intkeys)
    case(
        "a weights file with a non-string key",
        lambda: run(["predict", str(img), "--model", "lenet5", "--pretrained", str(intkeys)]),
    )
    state = torch.load(done / "last.pt", weights_only=True)
    for label, change in (
        ("missing `config`", lambda c: c.pop("config")),
        ("`epoch` a string", lambda c: c.update(epoch="three")),
        ("RNG states of the wrong type", lambda c: c.update(rng={"torch": 1})),
    ):
        crafted = dict(state)
        change(crafted)
        path = tmp / f"crafted-{len(rows)}.pt"
        torch.save(crafted, path)
        case(f"a crafted checkpoint: {label}", lambda p=path: run(["train", "--resume", str(p), *QUICK]))
    for option, value in (
        ("--model-arg", "num_classes=3"),
        ("--model-arg", "variant=["),
        ("--seed", "99999999999999999999"),
        ("--input-size", "100000"),
        ("--in-chans", "100000"),
        ("--batch-size", "100000000"),
    ):
        case(f"`{option} {value}`", lambda o=option, v=value: run(["train", o, v, "--quiet"]))
    case(
        "BatchNorm with batches of one (`--model resnet18 --batch-size 1`)",
        lambda: run(
            [
                "train",
                "--model",
                "resnet18",
                "--data",
                "synthetic:8",
                "--batch-size",
                "1",
                "--input-size",
                "32",
                "--epochs",
                "1",
                "--threads",
                "1",
                "--workers",
                "0",
                "--quiet",
                "--limit-batches",
                "2",
                "--output",
                str(tmp / "bn1"),
            ]
        ),
    )
    lock_dir = tmp / "lockdir"
    (lock_dir / ".lock").mkdir(parents=True)
    case("a `.lock` that is a directory", lambda: run(["train", "--output", str(lock_dir), *QUICK]))
    case(
        "`cnnzoo train | head -1`",
        lambda: run(
            f"{sys.executable} -m cnnzoo train --epochs 2 --batch-size 64 --threads 1 --output {tmp / 'piped'}"
            ' | head -1 >/dev/null; echo "exit ${PIPESTATUS[0]}" >&2',
            shell=True,
        ),
    )
    case(
        "`eval --limit-batches 0`", lambda: run(["eval", "--checkpoint", str(done / "best.pt"), "--limit-batches", "0"])
    )
    home_file = tmp / "home-file"
    home_file.write_text("a file")
    case(
        "`CNNZOO_HOME` that is a file",
        lambda: run(
            ["predict", str(img), "--model", "resnet18", "--pretrained", "resnet18.tv_in1k"],
            env={**ENV, "CNNZOO_HOME": str(home_file)},
        ),
    )
    for label, code in (
        ("num_classes=10**12", "cnnzoo.create_model('lenet5', num_classes=10**12)"),
        ("width_mult=inf", "cnnzoo.create_model('mobilenet_v1', width_mult=float('inf'))"),
        ("a string drop_rate", "cnnzoo.create_model('vgg11', drop_rate='0.5')"),
        ("a list as input", "cnnzoo.create_model('lenet5')([1, 2, 3])"),
        ("register_model(name=123)", "cnnzoo.register_model(name=123)(lambda **kw: None)"),
        ("create_model('../x')", "cnnzoo.create_model('../x')"),
        (
            "3-tuple batches",
            "import torch; from torch.utils.data import DataLoader, TensorDataset; "
            "x = torch.rand(16, 1, 32, 32); y = torch.zeros(16, dtype=torch.long); "
            "loader = DataLoader(TensorDataset(x, y, y), batch_size=8); "
            "cnnzoo.Trainer(cnnzoo.create_model('lenet5'), loader, loader, "
            "{'epochs': 1, 'verbose': False}).fit()",
        ),
    ):
        case(f"API: {label}", lambda c=code: _api(c))
    case("a newline in a model name", lambda: run(["info", "res\nnet"]))
    fifo = tmp / "fifo.yaml"
    os.mkfifo(fifo)
    case("`--config` on a FIFO", lambda: run(["train", "--config", str(fifo)]))
    nan = tmp / "nan.pth"
    torch.save({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}, nan)
    case(
        "`predict` with weights that give NaN",
        lambda: run(["predict", str(img), "--model", "lenet5", "--pretrained", str(nan)]),
    )

    print("| case | exit | what the user sees (last line on stderr) |")
    print("|---|---|---|")
    for name, code, text in rows:
        print(f"| {name} | {code} | {text} |")


def _api(code: str) -> tuple[int, str]:
    script = (
        f"import cnnzoo\ntry:\n    {code}\nexcept Exception as e:\n"
        "    import sys\n    print(type(e).__name__ + ': ' + str(e), file=sys.stderr)\n    sys.exit(1)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, env=ENV, timeout=600)
    err = proc.stderr.decode(errors="replace").strip().splitlines()
    return proc.returncode, (err[-1] if err else "(no error raised)")


if __name__ == "__main__":
    main()
