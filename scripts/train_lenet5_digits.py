#!/usr/bin/env python
"""Train the shipped ``lenet5.digits`` weights: LeNet-5 (modern variant) on scikit-learn's digits.

Deterministic on the CPU (fixed seeds, one thread, deterministic algorithms), well under a
minute. The data and split are the trainer's (``cnnzoo.data.digits_dataset``): the 1,797 8x8 digits
scaled by 1/16 to [0, 1], resized bilinearly to 32x32, normalised with mean 0.5 / std 0.5;
``perm = numpy.random.default_rng(0).permutation(1797)``, validation ``perm[:360]``,
training ``perm[360:]``. Digits stay light-on-dark, as scikit-learn stores them.

    python scripts/train_lenet5_digits.py            # writes src/cnnzoo/assets/lenet5_digits.pth

It prints the validation accuracy and the file's SHA-256, which go into the catalogue
entry ``lenet5.digits`` (src/cnnzoo/catalogue.py).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import cnnzoo
from cnnzoo.data import digits_dataset

SEED = 0
N_VAL = 360
OUT = Path(__file__).resolve().parents[1] / "src" / "cnnzoo" / "assets" / "lenet5_digits.pth"


def digits_split(image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val) from the trainer's ``cnnzoo.data.digits_dataset``."""
    train, val = (digits_dataset(split, image_size=image_size, in_chans=1) for split in ("train", "val"))
    return train.images, train.labels, val.images, val.labels


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (pad with the background, crop)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)  # -1 is a blank pixel after normalising
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one thread: the same floating-point sums on every machine
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(SEED)
    x_train, y_train, x_val, y_val = digits_split()
    model = cnnzoo.create_model("lenet5")  # modern variant, 10 classes, 1 x 32 x 32
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps_per_epoch = -(-len(y_train) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(y_train), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(model(shift(x_train[idx], gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if (epoch + 1) % 5 == 0:
            val_acc = accuracy(model, x_val, y_val)
            print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  val acc {val_acc:.4f}")
    val_acc = accuracy(model, x_val, y_val)
    # saved through a buffer: torch.save names the archive after the file, so writing a
    # temporary file directly would make the bytes (and the SHA-256) depend on its name
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    data = buffer.getvalue()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, args.output)
    print(f"trained in {time.perf_counter() - start:.1f} s; validation accuracy "
          f"{100 * val_acc:.2f}% ({round(val_acc * N_VAL)}/{N_VAL})")
    print(f"wrote {args.output} ({len(data)} bytes), SHA-256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
