"""cnnzoo.data: every data source, from tiny files in the real formats written here."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo import data
from cnnzoo.errors import DataError

CPU = torch.device("cpu")


# ---------------------------------------------------------------- digits
def test_digits_split_is_the_documented_one():
    from sklearn.datasets import load_digits

    train, val = data.digits_dataset("train"), data.digits_dataset("val")
    assert (len(train), len(val)) == (1437, 360)
    perm = np.random.default_rng(0).permutation(1797)
    target = load_digits().target
    assert torch.equal(val.labels, torch.from_numpy(target[perm[:360]]))
    assert torch.equal(train.labels, torch.from_numpy(target[perm[360:]]))
    x, y = val[0]
    assert x.shape == (1, 32, 32) and isinstance(y, int)
    # pixels /16 -> [0, 1], then (x - 0.5) / 0.5 -> [-1, 1]; backgrounds are dark (-1)
    assert val.images.min() >= -1.0001 and val.images.max() <= 1.0001
    assert val.images.min() < -0.99 and val.images.max() > 0.9


def test_digits_native_size_is_the_raw_pixels_and_channels_repeat():
    from sklearn.datasets import load_digits

    raw = data.digits_dataset("val", image_size=8)
    perm = np.random.default_rng(0).permutation(1797)
    expected = torch.from_numpy(load_digits().images[perm[0]]).float() / 16 * 2 - 1
    assert torch.allclose(raw.images[0, 0], expected)
    rgb = data.digits_dataset("val", image_size=16, in_chans=3)
    assert rgb.images.shape == (360, 3, 16, 16)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    with pytest.raises(DataError, match="split"):
        data.digits_dataset("test")


# ---------------------------------------------------------------- MNIST (IDX)
def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, n_train=12, n_val=6, gz_train=True):
    rng = np.random.default_rng(1)
    files = {}
    for prefix, n, gz in (("train", n_train, gz_train), ("t10k", n_val, False)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, arr, nd in (("images", images, 3), ("labels", labels, 1)):
            raw = _idx_bytes(arr)
            name = f"{prefix}-{kind}-idx{nd}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (root / name).write_bytes(raw)
        files[prefix] = (images, labels)
    return files


def test_mnist_idx_files_gz_and_plain(tmp_path):
    files = _write_mnist(tmp_path)
    train = data.mnist_dataset(tmp_path, "train")
    val = data.mnist_dataset(tmp_path, "val")
    assert len(train) == 12 and len(val) == 6
    assert torch.equal(train.images[:, 0], torch.from_numpy(files["train"][0]))
    assert train.labels.tolist() == files["train"][1].tolist()
    bundle = data.build_data(f"mnist:{tmp_path}", image_size=32, in_chans=3, batch_size=4, workers=0, device=CPU)
    x, y = next(iter(bundle.val_loader))  # uint8 crops, normalised on the device
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    xf = bundle.val_loader.device_transform(x, CPU)
    assert xf.dtype == torch.float32
    torch.testing.assert_close(xf, (x.float() / 255 - 0.5) / 0.5)  # MNIST's statistics (digits'): [0, 1] to [-1, 1]
    assert bundle.num_classes == 10


def test_idx_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DataError, match="magic"):
        data.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataError, match="bytes"):
        data.read_idx(short)
    with pytest.raises(DataError, match="no MNIST"):
        data.mnist_dataset(tmp_path, "train")


# ---------------------------------------------------------------- CIFAR (pickled batches)
def _write_cifar_batch(path, n, label_key=b"labels", n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": b"testing batch",
        label_key: [int(v) for v in rng.integers(0, n_classes, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)  # the protocol of the published (Python 2) batches
    return batch


def test_cifar10_batches(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    batches = [_write_cifar_batch(root / f"data_batch_{i}", 4, seed=i) for i in range(1, 6)]
    test = _write_cifar_batch(root / "test_batch", 3, seed=9)
    train = data.cifar_dataset(tmp_path, "train")  # finds the cifar-10-batches-py folder
    val = data.cifar_dataset(tmp_path, "val")
    assert len(train) == 20 and len(val) == 3
    # row-major 3072 = 3 planes (R, G, B) of 32 x 32
    assert torch.equal(train.images[0], torch.from_numpy(batches[0][b"data"][0].reshape(3, 32, 32)))
    assert val.labels.tolist() == test[b"labels"]
    bundle = data.build_data(f"cifar10:{tmp_path}", image_size=32, in_chans=3, batch_size=4, workers=0, device=CPU)
    x, _ = next(iter(bundle.train_loader))
    assert x.shape == (4, 3, 32, 32) and len(bundle.train_loader) == 5


def test_cifar100_batches(tmp_path):
    _write_cifar_batch(tmp_path / "train", 6, label_key=b"fine_labels", n_classes=100)
    _write_cifar_batch(tmp_path / "test", 2, label_key=b"fine_labels", n_classes=100)
    ds = data.cifar_dataset(tmp_path, "train", num_classes=100)
    assert len(ds) == 6 and len(ds.classes) == 100
    assert data.count_classes(f"cifar100:{tmp_path}") == 100


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_cifar_reader_never_runs_code_from_a_crafted_file(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": _Exploit(marker), b"labels": []}, f, protocol=2)
    with pytest.raises(DataError, match="refusing to load global"):
        data.cifar_dataset(tmp_path, "train")
    assert not marker.exists()


def test_cifar_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="data_batch_1.*extract"):
        data.cifar_dataset(tmp_path, "train")


# ---------------------------------------------------------------- image folders
def _write_image_folder(root, sizes=((40, 30), (24, 36))):
    from cnnzoo.data import encode_png

    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            d = root / split / cls
            d.mkdir(parents=True)
            for i, (h, w) in enumerate(sizes):
                img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
                if i % 2:
                    Image.fromarray(img.permute(1, 2, 0).numpy()).save(d / f"{i}.jpg", quality=75)
                else:
                    (d / f"{i}.png").write_bytes(encode_png(img))


# the tests write their images with torchvision.io, which announces its move to torchcodec
@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
def test_image_folder_png_and_jpeg(tmp_path):
    _write_image_folder(tmp_path)
    assert data.parse_data_spec(str(tmp_path)).kind == "imagefolder"
    assert data.count_classes(str(tmp_path)) == 2
    bundle = data.build_data(str(tmp_path), image_size=16, in_chans=3, batch_size=2, workers=0, device=CPU)
    assert bundle.classes == ["cat", "dog"]
    x, y = next(iter(bundle.train_loader))  # RandomResizedCrop gives the training size
    assert x.shape == (2, 3, 16, 16) and set(y.tolist()) <= {0, 1}
    xv, _ = next(iter(bundle.val_loader))  # resize + center crop
    assert xv.shape == (2, 3, 16, 16)
    grey = data.build_data(
        f"imagefolder:{tmp_path}", image_size=8, in_chans=1, batch_size=4, workers=0, device=CPU, train=False
    )
    assert grey.train_loader is None and next(iter(grey.val_loader))[0].shape == (4, 1, 8, 8)


def test_image_folder_errors(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="class folders"):
        data.count_classes(str(tmp_path))
    (tmp_path / "train" / "a").mkdir()
    with pytest.raises(DataError, match="val"):
        data.build_data(str(tmp_path), image_size=8, in_chans=3, batch_size=2, workers=0, device=CPU)


# ---------------------------------------------------------------- synthetic, specs, sampling
def test_synthetic_batches_are_made_on_the_device():
    bundle = data.build_data(
        "synthetic:64", image_size=20, in_chans=3, batch_size=16, workers=0, device=CPU, num_classes=7
    )
    batches = list(bundle.train_loader)
    assert len(batches) == len(bundle.train_loader) == 4
    x, y = batches[0]
    assert x.shape == (16, 3, 20, 20) and x.device == CPU and int(y.max()) < 7


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nonsense", "is not a directory"),
        ("mnist:/no/such/dir", "not a directory"),
        ("synthetic:x", "positive number"),
        ("", "is not a directory"),  # no text is no folder, though Path("") is "."
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(DataError, match=message):
        data.parse_data_spec(spec)


def test_epoch_sampler_order_depends_on_seed_and_epoch_only():
    def order(seed, epoch, rank=0, world=1, start=0):
        s = data.EpochSampler(10, shuffle=True, seed=seed, rank=rank, world_size=world)
        s.set_epoch(epoch, start)
        return list(s)

    assert order(0, 1) == order(0, 1) and order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)
    r0, r1 = order(0, 3, 0, 2), order(0, 3, 1, 2)
    assert sorted(r0 + r1) == list(range(10)) and len(r0) == len(r1) == 5
    assert order(0, 3, start=4) == order(0, 3)[4:]
    odd = data.EpochSampler(5, shuffle=False, world_size=2, rank=1, pad=True)
    assert len(odd) == len(list(odd)) == 3  # padded so both processes get as many samples


def test_default_image_size():
    assert data.default_image_size("digits", 224, 32, False) == 32
    assert data.default_image_size("digits", 32, 32, True) == 32
    assert data.default_image_size("cifar10", 224, 64, False) == 64
    assert data.default_image_size("imagefolder", 224, 32, False) == 224
    assert data.default_image_size("digits", 227, 63, True) == 227  # fixed-size nets get their own


def test_cifar_train_transform_crops_and_normalises():
    tf = data.build_transforms("cifar10", True, image_size=32, in_chans=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    img = torch.full((3, 32, 32), 255, dtype=torch.uint8)
    out = tf(img)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert out.max() == 1.0 and out.min() >= -1.0  # padding of the random crop is black (-1)
