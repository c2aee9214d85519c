"""The input pipeline that can feed a GPU: uint8 crops from the workers, normalised on the device,
read one batch ahead, optionally decoded on the device (here on the CPU; tests/training/test_cuda.py on a GPU)."""

import pytest
import torch
from helpers import random_image_folder
from torch.utils.data import DataLoader, TensorDataset

import cnnzoo
from cnnzoo import data
from cnnzoo.data import IMAGENET_MEAN, IMAGENET_STD, DecodeImages, EncodedBatch, Normalize, ToDevice
from cnnzoo.errors import DataError, DeviceError
from cnnzoo.training.outputs import load_checkpoint

CPU = torch.device("cpu")
# the images of these tests are written with torchvision.io, which announces its move to torchcodec
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


# ---------------------------------------------------------------- uint8 in the workers, normalised on the device
@pytest.mark.parametrize("kind, train", [("cifar10", True), ("imagefolder", True), ("imagefolder", False)])
def test_uint8_crops_normalised_on_the_device_equal_the_float_pipeline(kind, train):
    mean, std = data.normalisation(kind, 3)
    make = dict(image_size=24, in_chans=3, mean=mean, std=std, auto_augment="ta_wide" if train else None)
    floats = data.build_transforms(kind, train, **make)
    crops = data.build_transforms(kind, train, **make, normalize=False)
    img = torch.randint(0, 256, (3, 37, 45), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    for seed in range(3):  # the same random crop, flip and policy in both
        torch.manual_seed(seed)
        expected = floats(img)
        torch.manual_seed(seed)
        crop = crops(img)
        assert crop.dtype == torch.uint8 and crop.shape == expected.shape
        # the batch's arithmetic is torchvision's, in the same order: equal bit for bit
        assert torch.equal(Normalize(mean, std)(crop[None], CPU)[0], expected)


def test_build_data_gives_uint8_batches_and_their_device_transform(tmp_path):
    root = random_image_folder(tmp_path)
    bundle = data.build_data(str(root), image_size=16, in_chans=3, batch_size=2, workers=0, device=CPU)
    for loader in (bundle.train_loader, bundle.val_loader):
        x, y = next(iter(loader))
        assert x.dtype == torch.uint8 and x.shape == (2, 3, 16, 16) and not loader.pin_memory  # pinned on CUDA only
        t = data.device_transform(loader)
        assert isinstance(t, Normalize) and t.mean == IMAGENET_MEAN and t.std == IMAGENET_STD
        out = t(x, CPU, channels_last=True)
        assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    digits = data.build_data("digits", image_size=8, in_chans=1, batch_size=4, workers=0, device=CPU)
    x, _ = next(iter(digits.train_loader))  # float model inputs in memory: copied as they are
    assert x.dtype == torch.float32 and isinstance(data.device_transform(digits.train_loader), ToDevice)
    plain = DataLoader(TensorDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4)), batch_size=2)
    assert isinstance(data.device_transform(plain), ToDevice)  # a notebook's own loader


def test_random_erasing_of_uint8_crops_fills_the_mean_colour():
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    tf = data.build_transforms(
        "imagefolder", True, image_size=32, in_chans=3, random_erase=1.0, mean=mean, std=std, normalize=False
    )
    torch.manual_seed(0)
    crop = tf(torch.full((3, 48, 48), 255, dtype=torch.uint8))
    erased = (crop != 255).any(0)
    assert 0 < erased.float().mean() < 1  # a box, not the whole crop
    assert crop[:, erased].unique(dim=1).T.tolist() == [[round(255 * m) for m in mean]]
    x = Normalize(mean, std)(crop[None], CPU)[0]
    assert x[:, erased].abs().max() < 0.01  # the mean colour is what the float pipeline's 0 was


def test_match_channels_rounds_grey_uint8():
    rgb = torch.tensor([[[10]], [[200]], [[31]]], dtype=torch.uint8)
    grey = data.MatchChannels(1)(rgb)
    assert grey.dtype == torch.uint8 and grey.item() == round(0.299 * 10 + 0.587 * 200 + 0.114 * 31)


def test_device_transforms_refuse_the_wrong_input():
    with pytest.raises(DataError, match="uint8"):
        Normalize(IMAGENET_MEAN, IMAGENET_STD)(torch.zeros(1, 3, 2, 2), CPU)
    with pytest.raises(DataError, match="3 normalisation statistics"):
        Normalize(IMAGENET_MEAN, IMAGENET_STD)(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), CPU)
    with pytest.raises(DataError, match="device_transform"):
        ToDevice()(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), CPU)
    with pytest.raises(DataError, match="stds > 0"):
        Normalize((0.5,), (0.0,))


# ---------------------------------------------------------------- one batch ahead
def test_feed_reads_one_batch_ahead_only_when_asked():
    def run(ahead):
        events = []

        def batches():
            for k in range(3):
                events.append(f"read {k}")
                yield torch.full((1, 1, 1, 1), float(k)), torch.tensor([k])

        for x, y in data.feed(batches(), CPU, ahead=ahead):
            events.append(f"use {int(y)}")
            assert x.item() == y.item()
        return events

    assert run(False) == ["read 0", "use 0", "read 1", "use 1", "read 2", "use 2"]
    # the next batch is read (and on CUDA copied, on a side stream) before the current one is used
    assert run(True) == ["read 0", "read 1", "use 0", "read 2", "use 1", "use 2"]
    cuda = torch.device("cuda", 0)  # a device object only: nothing runs on it
    workers = DataLoader(TensorDataset(torch.zeros(2)), num_workers=2)
    assert data.reads_ahead(workers, cuda) and not data.reads_ahead(workers, CPU)
    # without workers, reading draws the augmentation's random numbers in this process: never ahead
    assert not data.reads_ahead(DataLoader(TensorDataset(torch.zeros(2))), cuda)


# ---------------------------------------------------------------- decoding on the device (its code path, on the CPU)
def test_decode_on_the_device_equals_the_worker_pipeline(tmp_path):
    root = random_image_folder(tmp_path)
    common = dict(image_size=16, in_chans=3, batch_size=3, workers=0, device=CPU, seed=0)
    encoded = data.build_data(str(root), decode="gpu", **common)
    decoded = data.build_data(str(root), **common)
    assert encoded.train_loader.pin_memory is False and encoded.val_loader.collate_fn is data.collate_encoded
    (xe, ye), (xd, yd) = next(iter(encoded.val_loader)), next(iter(decoded.val_loader))
    assert isinstance(xe, EncodedBatch) and len(xe.data) == 3 and xe.seeds.dtype == torch.int64
    assert xe.data[0].dtype == torch.uint8 and xe.data[0].dim() == 1  # the file's bytes, undecoded
    t = data.device_transform(encoded.val_loader)
    assert isinstance(t, DecodeImages)
    # evaluation (resize + centre crop) is deterministic: the same decoder on the CPU gives the same input
    assert torch.equal(ye, yd) and torch.equal(t(xe, CPU), data.device_transform(decoded.val_loader)(xd, CPU))
    xt, _ = next(iter(encoded.train_loader))
    train = data.device_transform(encoded.train_loader)
    first, again = train(xt, CPU), train(xt, CPU, channels_last=True)
    assert first.shape == (3, 3, 16, 16) and torch.equal(first, again)  # each image's crop follows its seed
    assert again.is_contiguous(memory_format=torch.channels_last)
    other = train(EncodedBatch(xt.data, xt.seeds + 1), CPU)
    assert not torch.equal(first, other)


def test_decode_gpu_is_refused_where_it_cannot_run(tmp_path, capsys):
    from helpers import cli_error

    root = random_image_folder(tmp_path / "imgs", per_class=2)
    with pytest.raises(DataError, match="decoded already"):
        data.build_data("digits", image_size=8, in_chans=1, batch_size=4, workers=0, device=CPU, decode="gpu")
    with pytest.raises(
        DeviceError, match=r"--decode gpu needs CUDA \(it decodes images on the training GPU\), but this run is on cpu"
    ):
        cnnzoo.train("lenet5", data=str(root), decode="gpu", device="cpu", verbose=False, output=str(tmp_path / "run"))
    line = cli_error(
        capsys, ["train", "--data", str(root), "--decode", "gpu", "--device", "cpu", "--output", str(tmp_path / "run2")]
    )
    assert "--decode cpu" in line


def test_decode_gpu_falls_back_to_the_cpu_decoder_for_a_bad_batch(tmp_path, monkeypatch):
    import torchvision.io

    root = random_image_folder(tmp_path, per_class=2, png_every=99)
    bundle = data.build_data(
        str(root), decode="gpu", image_size=16, in_chans=1, batch_size=4, workers=0, device=CPU, train=False
    )
    x, _ = next(iter(bundle.val_loader))
    expected = bundle.val_loader.device_transform(x, CPU)

    def refuse(*args, **kwargs):
        raise RuntimeError("nvjpeg: unsupported")

    monkeypatch.setattr(torchvision.io, "decode_jpeg", refuse)
    assert torch.equal(bundle.val_loader.device_transform(x, CPU), expected)
    assert expected.shape == (4, 1, 16, 16)  # grey, as in_chans asks
    with pytest.raises(DataError, match="cannot decode image 1 of the batch"):
        junk = torch.tensor([0xFF, 0xD8, 0xFF] + [7] * 40, dtype=torch.uint8)  # a JPEG's first bytes, then junk
        bundle.val_loader.device_transform(EncodedBatch([x.data[0], junk], x.seeds[:2]), CPU)


# ---------------------------------------------------------------- through the trainer
def test_training_on_uint8_batches_with_mixup_and_erasing_and_grey_conversion(tmp_path):
    root = random_image_folder(tmp_path / "imgs", per_class=4)
    run = dict(
        model="lenet5",
        data=str(root),
        input_size=32,
        batch_size=4,
        epochs=1,
        mixup=0.4,
        random_erase=0.5,
        workers=0,
        device="cpu",
        verbose=False,
        threads=1,
    )
    res = cnnzoo.train(output=str(tmp_path / "run"), **run)  # lenet5 is grey: the RGB crops are converted
    assert torch.isfinite(torch.tensor(res.history[0]["train_loss"])) and 0 <= res.history[0]["val_top1"] <= 100
    again = cnnzoo.training.evaluate_checkpoint(res.last_checkpoint)
    assert again["val_loss"] == pytest.approx(res.history[0]["val_loss"])  # evaluation normalises the same way


def test_resume_on_augmented_uint8_crops_is_bit_exact(tmp_path):
    # random crops drawn in this process (no workers): the checkpoint's RNG state must match its place in the data
    root = random_image_folder(tmp_path / "imgs", per_class=4)
    run = dict(
        model="lenet5",
        data=str(root),
        input_size=32,
        batch_size=2,
        seed=2,
        deterministic=True,
        threads=1,
        workers=0,
        device="cpu",
        verbose=False,
        schedule="step",
        step_size=1,
        gamma=0.5,
        random_erase=0.5,
    )
    full = cnnzoo.train(epochs=2, output=str(tmp_path / "full"), **run)
    cut = cnnzoo.train(epochs=1, output=str(tmp_path / "cut"), **run)
    torch.manual_seed(77)
    resumed = cnnzoo.train(resume=cut.last_checkpoint, epochs=2, verbose=False)
    a, b = (load_checkpoint(r.last_checkpoint)["model"] for r in (full, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
