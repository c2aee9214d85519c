"""What several test modules share: building models cheaply, random weights, comparisons, the CLI.

Tests in every folder import it as ``from helpers import ...``: pytest puts this folder, the one of the
root conftest.py, on ``sys.path``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import cnnzoo
from cnnzoo import cli

#: The options of a ``cnnzoo train`` that is over in a moment: one batch of 8, one thread, no workers.
QUICK = ["--quiet", "--limit-batches", "1", "--batch-size", "8", "--threads", "1", "--workers", "0"]

#: One registered model per network class and code path, the small member of each: numerics
#: (real forward/backward, FX, compile, TorchScript) run on these; shapes and counts run on
#: every registered model on the meta device. A bigger sibling differs only in block counts or
#: widths, which the meta-device tests cover.
REPRESENTATIVES = [
    "lenet5",  # LeNet5 (variant="paper" is tested beside it)
    "alexnet",  # ClassicConvNet: AlexNet, torchvision's layout
    "alexnet_original",  # grouped convolutions and LRN
    "zfnet",
    "vgg11",
    "vgg11_bn",  # VGG with and without BatchNorm
    "googlenet",  # Inception, auxiliary heads
    "resnet18",  # BasicBlock
    "resnet50",  # Bottleneck
    "resnext50_32x4d",  # grouped Bottleneck
    "resnet18v2",  # PreActBasicBlock
    "resnet50v2",  # PreActBottleneck
    "se_resnet18",  # SE in BasicBlock, ReLU before SE, Caffe stem pooling
    "se_resnet50",  # SE in Bottleneck, stride on the first 1x1
    "densenet_bc_100_k12",  # DenseNet, CIFAR stem
    "densenet121",  # DenseNet, ImageNet stem
    "mobilenet_v1_025",  # depthwise separable blocks
    "mobilenet_v2",  # inverted residuals
    "resnet20",  # CIFAR stem, three stages, zero-padding shortcuts (option A)
]

#: Representatives whose numerics cost seconds each for code a sibling already runs: VGG-11's 120M
#: fully connected weights beside VGG-11-BN's (the same class, less BatchNorm), DenseNet-121 beside
#: DenseNet-BC-100 (the same blocks, an ImageNet stem). Their cases run in the slow tier.
SLOW_REPRESENTATIVES = frozenset({"vgg11", "densenet121"})


#: Representatives whose classifier alone holds over 100M weights (VGG's fully connected head): a
#: head or feature test builds it in seconds for code every other representative runs (the head and
#: stage contract of cnnzoo.models.base). Those tests put it in the slow tier; its numerics (forward,
#: backward, FX, TorchScript) stay in the fast one.
BIG_HEADS = frozenset({"vgg11_bn"})


def representative_params(slow: frozenset[str] = SLOW_REPRESENTATIVES) -> list:
    """:data:`REPRESENTATIVES` as pytest parameters, those in ``slow`` (:data:`SLOW_REPRESENTATIVES`; a head or
    feature test adds :data:`BIG_HEADS`) marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in REPRESENTATIVES]


#: Registered networks whose meta-device forward alone takes seconds (ResNet-1202: 600 blocks,
#: each BatchNorm a Python decomposition on "meta"). The registry-driven tests that run a
#: forward put them in the slow tier; a sibling with fewer blocks (resnet110) covers the same
#: code in the fast one, and their parameter counts stay in the fast tier.
SLOW_ON_META = frozenset({"resnet1202"})


def registry_params(names: list[str]) -> list:
    """``names`` as pytest parameters, those in :data:`SLOW_ON_META` marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_ON_META else n for n in names]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_model(name: str, **kwargs: object) -> nn.Module:
    """A registered model built on the meta device: shapes and counts, no memory, no compute."""
    with torch.device("meta"):
        return cnnzoo.create_model(name, **kwargs)


def meta_input(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


def min_input(model: nn.Module, batch: int = 2) -> torch.Tensor:
    """A random batch of the smallest input ``model`` takes (at least 16 pixels a side)."""
    c, h, w = model.min_input_size
    return torch.randn(batch, c, max(h, 16), max(w, 16))


def randomise(model: nn.Module, skip: tuple[str, ...] = ()) -> nn.Module:
    """Random weights with moderate activations, and random BN affine and running statistics.

    Convolutions get N(0, 0.49/fan_in), which keeps a 150-layer pre-activation stream near
    unit scale (He init on random BN statistics grows it to ~1e7, and then float32 rounding
    alone exceeds a 1e-5 tolerance, whichever implementation computes it); the modules named
    in ``skip`` keep their own initialisation. Returns the model in eval mode.
    """
    with torch.no_grad():
        for name, m in model.named_modules():
            if name in skip:
                continue
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, nn.Conv2d):
                m.weight.normal_(0.0, 0.7 * m.weight[0].numel() ** -0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
    return model.eval()


def assert_same_outputs(ours: nn.Module, theirs: nn.Module, x: torch.Tensor, atol: float = 1e-5) -> None:
    """Eval-mode outputs agree to ``atol``, and are large enough for that to mean something."""
    with torch.no_grad():
        expected = theirs.eval()(x)
        got = ours.eval()(x)
    assert expected.abs().max() > 0.1  # a comparison of near-zero outputs would prove nothing
    torch.testing.assert_close(got, expected, rtol=0, atol=atol)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``cnnzoo ARGV`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        status = cli.main(list(argv))
    except SystemExit as e:  # argparse's own usage errors and --help
        status = int(e.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI in-process; assert status 2 and one clean line; return that line."""
    status, _, err = run_cli(capsys, *argv)
    assert status == 2, (argv, status, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"cnnzoo {argv[0]}: error: ") or lines[0].startswith("cnnzoo "), err
    return lines[0]


def random_image_folder(root, per_class=3, classes=("cat", "dog"), png_every=3, seed=0):
    """A tiny ImageFolder of random JPEGs (and a PNG every ``png_every``), 30-60 px per side."""
    from cnnzoo.data import encode_png

    g = torch.Generator().manual_seed(seed)
    for split in ("train", "val"):
        for cls in classes:
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                h, w = torch.randint(30, 61, (2,), generator=g).tolist()
                img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
                if i % png_every == png_every - 1:
                    (d / f"{i}.png").write_bytes(encode_png(img))
                else:
                    Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / f"{i}.jpg", quality=90)
    return root


def image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), n: int = 4) -> Path:
    """An ImageFolder (train/ and val/) of ``n`` plain 20x20 JPEGs per class."""
    for split in ("train", "val"):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("RGB", (20, 20), (60 * c, 10 * i, 0)).save(root / split / name / f"{i}.jpg")
    return root


def no_partial_files(directory: Path) -> None:
    """Nothing half-written: no temp files, and every checkpoint there loads."""
    if not directory.exists():
        return
    leftovers = [p.name for p in directory.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert leftovers == [], leftovers
    for ckpt in directory.rglob("*.pt"):
        torch.load(ckpt, weights_only=True)


class Evil:
    """Unpickling this would call print (code execution in a real attack)."""

    def __reduce__(self):
        return (print, ("this must never run",))


#: the commit that :func:`put_in_hub_cache` files a repository's snapshot under
HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(root: Path, repo: str, files: dict[str, bytes]) -> Path:
    """Store ``files`` of ``repo`` as huggingface_hub does (refs/main -> snapshot -> blobs); returns the snapshot."""
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(HUB_COMMIT)
    snapshot = folder / "snapshots" / HUB_COMMIT
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir()
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (folder / "blobs" / digest).write_bytes(data)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", digest))
    return snapshot
