"""The built-in digits read scikit-learn's CSV without importing scikit-learn or torchvision (checked in a
fresh interpreter by tests/models/test_layering.py's one import probe), and give exactly what
``sklearn.datasets.load_digits`` and torchvision's antialiased resize give."""

from __future__ import annotations

import numpy as np
import torch

from cnnzoo.data import sources


def test_digits_are_exactly_load_digits_and_torchvisions_resize():
    from sklearn.datasets import load_digits
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    sources._load_digits.cache_clear()
    images, target = sources._load_digits()
    ref = load_digits()
    assert np.array_equal(images, ref.images) and np.array_equal(target, ref.target)
    for split in ("train", "val"):
        ds = sources.digits_dataset(split, image_size=32)
        idx = np.random.default_rng(0).permutation(len(ref.images))
        idx = idx[:360] if split == "val" else idx[360:]
        x = torch.from_numpy(ref.images[idx]).float().div_(16.0).unsqueeze(1)
        x = F.resize(x, [32, 32], interpolation=InterpolationMode.BILINEAR, antialias=True)
        assert torch.equal(ds.images, (x - 0.5) / 0.5)
        assert torch.equal(ds.labels, torch.from_numpy(ref.target[idx]).long())
