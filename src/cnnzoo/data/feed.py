"""From a loader's batch to the model's input on the device: copy, decode, normalise, one batch ahead.

The loaders of :func:`~cnnzoo.data.build_data` for files (MNIST, CIFAR, image folders) give
**uint8** images: the workers decode and crop, and what they collate, pin and copy is 4x smaller
than float32. The batch becomes the model's input on the device, where converting and
normalising 256 images is one fast elementwise pass (the split of FFCV and NVIDIA DALI). A
loader says how through its ``device_transform`` (:class:`Normalize`, :class:`DecodeImages`);
loaders without one (the built-in digits, synthetic batches, a notebook's own float loader)
are copied as they are (:class:`ToDevice`). :func:`feed` runs the transform one batch ahead on a
CUDA side stream, so the copy overlaps the previous step's compute.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch.utils.data import DataLoader

from ..errors import DataError, shown
from ..models.arguments import checked

__all__ = [
    "DeviceTransform",
    "ToDevice",
    "Normalize",
    "EncodedBatch",
    "collate_encoded",
    "DecodeImages",
    "ImageLoader",
    "device_transform",
    "reads_ahead",
    "feed",
]


class DeviceTransform(Protocol):
    """What turns a loader's batch of images into the model's input on ``device`` (N x C x H x W float)."""

    def __call__(self, images: Any, device: torch.device, channels_last: bool = False) -> torch.Tensor: ...


def _to(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)  # asynchronous from pinned memory (the loaders pin on CUDA)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


class ToDevice:
    """Float images, already model inputs, copied to the device (in NHWC with ``channels_last``)."""

    def __call__(self, images: Any, device: torch.device, channels_last: bool = False) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise DataError(
                f"the loader gives {shown(images)} as images, not float model inputs; give it a device_transform "
                "(loader.device_transform = cnnzoo.data.Normalize(mean, std) for uint8 images) "
                "or normalise them in the loader"
            )
        return _to(images, device, channels_last)


class Normalize:
    """uint8 images to ``(x / 255 - mean) / std`` in float32 on the device.

    The arithmetic of torchvision's ``ToDtype(float32, scale=True)`` + ``Normalize`` in the
    same order (multiply by 1/255, subtract, divide), so a batch normalised here equals the
    images normalised one by one in a worker, bit for bit. The uint8 batch is copied and
    re-laid in NHWC before the conversion: one byte per value moves instead of four.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise DataError(f"Normalize needs as many means as stds, all stds > 0; got {mean!r}, {std!r}")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"

    def __call__(self, images: Any, device: torch.device, channels_last: bool = False) -> torch.Tensor:
        return self.normalise(images, device, channels_last)

    def normalise(self, x: Any, device: torch.device | None = None, channels_last: bool = False) -> torch.Tensor:
        """A uint8 batch (N x C x H x W) as normalised float32 on ``device`` (default: its own), in NHWC
        with ``channels_last`` (else in its own memory format)."""
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.shape[-3:-2] != (len(self.mean),):
            raise DataError(
                f"Normalize takes uint8 images N x C x H x W with C = its {len(self.mean)} normalisation statistics, "
                f"got {shown(x)}"
            )
        x = _to(x, device or x.device, channels_last)
        if x.device not in self._stats:  # made once per device: no small host-to-device copy per batch
            self._stats[x.device] = (
                torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1),
                torch.tensor(self.std, dtype=torch.float32, device=x.device).view(-1, 1, 1),
            )
        mean, std = self._stats[x.device]
        return x.to(torch.float32).mul_(1.0 / 255).sub_(mean).div_(std)


# ---------------------------------------------------------------- decoding on the device
class EncodedBatch(NamedTuple):
    """Image files as read from disk: their bytes (1-D uint8 tensors) and one random seed per image.

    The seeds are drawn by the loader worker that read the files (from its own random
    stream, as CPU augmentation draws its crops there), so the device-side augmentation
    is as reproducible as the CPU pipeline's.
    """

    data: list[torch.Tensor]
    seeds: torch.Tensor


def collate_encoded(items: Sequence[tuple[tuple[torch.Tensor, int], int]]) -> tuple[EncodedBatch, torch.Tensor]:
    """The ``collate_fn`` of encoded image folders: files of any length stay a list."""
    return (
        EncodedBatch([data for (data, _), _ in items], torch.tensor([seed for (_, seed), _ in items])),
        torch.tensor([target for _, target in items]),
    )


def _is_jpeg(data: torch.Tensor) -> bool:
    return data.numel() > 3 and data[0].item() == 0xFF and data[1].item() == 0xD8 and data[2].item() == 0xFF


class DecodeImages:
    """Image files decoded on the device in one batched call (nvJPEG on CUDA), transformed there, normalised.

    ``transform`` is the CPU pipeline's (:func:`~cnnzoo.data.build_transforms` with
    ``normalize=False``: RandomResizedCrop + flip for training, resize + centre crop for
    evaluation), applied to each decoded image on the device with the torch random stream
    seeded by the image's seed; then the batch is stacked and :class:`Normalize`\\ d. Files
    that are not JPEGs (PNG ...), and a batch nvJPEG refuses, are decoded on the CPU by
    :func:`~cnnzoo.data.decode_image`.
    """

    def __init__(
        self,
        transform: Callable[[torch.Tensor], torch.Tensor],
        mean: Sequence[float],
        std: Sequence[float],
        in_chans: int = 3,
    ) -> None:
        self.transform, self.normalize, self.in_chans = transform, Normalize(mean, std), in_chans

    @checked  # once per batch, a fraction of a millisecond beside the batch's decoding
    def __call__(self, images: EncodedBatch, device: torch.device, channels_last: bool = False) -> torch.Tensor:
        decoded = self.decode(images.data, device)
        out = []
        with torch.random.fork_rng(devices=[]):  # v2 transforms draw their parameters on the CPU stream
            for img, seed in zip(decoded, images.seeds.tolist()):
                torch.default_generator.manual_seed(seed)
                out.append(self.transform(img))
        return self.normalize(torch.stack(out), device, channels_last)

    def decode(self, data: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
        """The files' images (C x H x W uint8 on ``device``, C = 1 or 3 as ``in_chans`` asks)."""
        from torchvision.io import ImageReadMode, decode_jpeg

        from .decode import decode_image

        channels: Literal[1, 3] = 1 if self.in_chans == 1 else 3
        mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
        out: list[torch.Tensor | None] = [None] * len(data)
        jpegs = [i for i, d in enumerate(data) if _is_jpeg(d)]
        if jpegs:
            with warnings.catch_warnings():  # torchvision's nvJPEG call announces TorchCodec's takeover
                warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
                try:
                    images = decode_jpeg([data[i] for i in jpegs], mode=mode, device=device)
                except RuntimeError:  # a file nvJPEG cannot read (CMYK, corrupt): each by the CPU decoder
                    images = [decode_image(data[i], channels, f"image {i} of the batch").to(device) for i in jpegs]
            for i, img in zip(jpegs, images):
                out[i] = img
        for i, d in enumerate(data):
            if out[i] is None:
                out[i] = decode_image(d, channels, f"image {i} of the batch").to(device, non_blocking=True)
        return [img for img in out if img is not None]


# ---------------------------------------------------------------- loaders and the feed
class ImageLoader(DataLoader[Any]):
    """A ``DataLoader`` whose batches become model inputs on the device through ``device_transform``."""

    def __init__(self, *args: Any, device_transform: DeviceTransform | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device_transform: DeviceTransform = device_transform or ToDevice()


def device_transform(loader: Any) -> DeviceTransform:
    """A loader's ``device_transform`` attribute, or :class:`ToDevice` (float batches) where it has none."""
    transform = getattr(loader, "device_transform", None)
    return transform if callable(transform) else ToDevice()


def reads_ahead(loader: Any, device: torch.device) -> bool:
    """Whether :func:`feed` should read ``loader`` one batch ahead on ``device``.

    On CUDA, where the copy of the next batch can overlap the current step, and only when
    worker processes read the data: reading ahead in this process would run the next batch's
    random augmentation before the current step, so a checkpoint's RNG state would no longer
    match its position in the data (and a resumed run would differ).
    """
    return device.type == "cuda" and int(getattr(loader, "num_workers", 0) or 0) > 0


def feed(
    batches: Iterable[tuple[Any, torch.Tensor]],
    device: torch.device,
    transform: DeviceTransform | None = None,
    *,
    channels_last: bool = False,
    ahead: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(images, labels)`` batches as model inputs on ``device`` (``transform``, default :class:`ToDevice`).

    With ``ahead`` the next batch is read and its transform (copy, decoding, normalisation)
    started before the current one is handed out; on CUDA that work runs on a side stream
    which the compute stream waits for, so it overlaps the current step (the data
    prefetcher of NVIDIA's Apex ImageNet example). No call waits for the device.
    """
    transform = transform or ToDevice()

    def prepare(x: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return transform(x, device, channels_last), y.to(device, non_blocking=True)

    if not ahead:
        for x, y in batches:
            yield prepare(x, y)
        return
    stream = torch.cuda.Stream(device) if device.type == "cuda" else None
    it = iter(batches)

    def load() -> tuple[torch.Tensor, torch.Tensor] | None:
        item = next(it, None)
        if item is None:
            return None
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            return prepare(*item)

    following = load()
    while following is not None:
        if stream is not None:
            current = torch.cuda.current_stream(device)
            current.wait_stream(stream)
            for t in following:  # made on the side stream, used on this one: not reused before it is done
                t.record_stream(current)
        batch, following = following, load()
        yield batch
