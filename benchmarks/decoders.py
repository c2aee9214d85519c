"""Which image decoder: images/s per core for decode + RandomResizedCrop(224), and damaged files.

Throughput, one process, one thread (images/s per core), contenders interleaved in each round,
median of ``--repeats`` rounds, on ``--images`` generated 500 x 375 photographs-like images
encoded as JPEG (quality 90) and PNG:

* ``torchvision.io``: ``decode_image`` (deprecated since torchvision 0.29);
* ``Pillow``: ``Image.open`` + ``convert("RGB")`` + to a tensor;
* ``TorchCodec``: ``torchcodec.decoders.decode_image``;
* ``cnnzoo (check + TorchCodec)``: :func:`cnnzoo.data.decode_image` as installed;
* ``cnnzoo (Pillow fallback)``: the same without TorchCodec.

Damaged files (scripts/make_bad_images.py), each decoded by each decoder in a subprocess of
its own (a crash is then a row, not the end of the run), with 4 GiB of address space: exit
status and the message's first 90 characters.

Run: python benchmarks/decoders.py [--images 32] [--repeats 5] [--markdown] [--json F]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _common import REPO, machine, median, print_markdown, print_table, set_threads, write_json

warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)  # the contender
_spec = importlib.util.spec_from_file_location("make_bad_images", REPO / "scripts" / "make_bad_images.py")
assert _spec is not None and _spec.loader is not None
bad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad)


def _torchvision(raw: bytes) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image

    return decode_image(torch.frombuffer(bytearray(raw), dtype=torch.uint8), mode=ImageReadMode.RGB)


def _pillow(raw: bytes) -> torch.Tensor:
    from PIL import Image

    return torch.from_numpy(np.array(Image.open(io.BytesIO(raw)).convert("RGB"))).permute(2, 0, 1)


def _torchcodec(raw: bytes) -> torch.Tensor:
    from torchcodec.decoders import decode_image

    return decode_image(raw, mode="RGB")


def _cnnzoo(raw: bytes) -> torch.Tensor:
    from cnnzoo.data import decode_image

    return decode_image(raw, 3)


def _cnnzoo_pillow(raw: bytes) -> torch.Tensor:
    from cnnzoo.data import decode

    saved, decode._torchcodec = decode._torchcodec, lambda: None  # type: ignore[assignment]
    try:
        return decode.decode_image(raw, 3)
    finally:
        decode._torchcodec = saved  # type: ignore[assignment]


DECODERS: dict[str, Callable[[bytes], torch.Tensor]] = {
    "torchvision.io": _torchvision, "Pillow": _pillow, "TorchCodec": _torchcodec,
    "cnnzoo (check + TorchCodec)": _cnnzoo, "cnnzoo (Pillow fallback)": _cnnzoo_pillow}


def throughput(images: int, repeats: int) -> list[dict[str, Any]]:
    import time

    from torchvision.transforms import v2

    crop = v2.RandomResizedCrop(224, antialias=True)
    rows = []
    for fmt, kwargs in (("JPEG", {"quality": 90}), ("PNG", {})):
        files = [bad.encoded(bad.photo(500, 375, seed=i), fmt, **kwargs) for i in range(images)]
        rates: dict[str, list[float]] = {name: [] for name in DECODERS}
        for r in range(repeats + 1):  # round 0 warms up
            order = list(DECODERS) if r % 2 else list(reversed(DECODERS))
            for name in order:
                start = time.perf_counter()
                for raw in files:
                    crop(DECODERS[name](raw))
                if r:
                    rates[name].append(images / (time.perf_counter() - start))
        base = median(rates["torchvision.io"])
        for name, values in rates.items():
            rows.append({"format": fmt, "decoder": name, "images/s": round(median(values), 1),
                         "vs torchvision.io": round(median(values) / base, 2), "rounds": len(values)})
    return rows


_CHILD = """
import resource, sys, warnings
warnings.simplefilter("ignore")
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
sys.path.insert(0, {bench!r})
import decoders
raw = open({path!r}, "rb").read()
try:
    x = decoders.DECODERS[{name!r}](raw)
    print("decoded", "x".join(map(str, x.shape)))
except BaseException as e:
    print(type(e).__name__ + ": " + " ".join(str(e).split()))
"""


def damaged(folder: Any) -> list[dict[str, Any]]:
    paths = bad.write_all(folder)
    rows = []
    for case, path in paths.items():
        for name in DECODERS:
            code = _CHILD.format(bench=str(REPO / "benchmarks"), path=str(path), name=name)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
            said = (proc.stdout.strip().splitlines() or [""])[-1]
            outcome = f"CRASH (signal {-proc.returncode})" if proc.returncode < 0 else said[:90]
            rows.append({"file": f"{case} ({path.stat().st_size:,} B)", "decoder": name, "outcome": outcome})
    return rows


def main() -> None:
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    set_threads(1, torch.device("cpu"))
    rows = throughput(args.images, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        broken = damaged(Path(tmp))
    show = print_markdown if args.markdown else print_table
    show(rows, list(rows[0]))
    show(broken, list(broken[0]))
    if args.json:
        write_json(args.json, {"machine": machine(), "rows": rows, "damaged": broken})


if __name__ == "__main__":
    main()
