"""Training data: where images come from, how they become model inputs, who sees which.

``--data`` specs (:func:`parse_data_spec`): ``digits`` (the default: scikit-learn's 1,797 real
8x8 handwritten digits, no download), ``mnist:DIR``, ``cifar10:DIR`` / ``cifar100:DIR``,
``DIR`` or ``imagefolder:DIR`` (``DIR/train/<class>/*`` and ``DIR/val/<class>/*``) and
``synthetic[:N]``.

* :mod:`~cnnzoo.data.sources` -- the datasets (file formats);
* :mod:`~cnnzoo.data.decode` -- image files to pixels (header and size checked first);
* :mod:`~cnnzoo.data.transforms` -- torchvision v2 pipelines and default sizes;
* :mod:`~cnnzoo.data.stats` -- normalisation statistics and the evaluation crop;
* :mod:`~cnnzoo.data.sampling` -- per-epoch, per-process sample order (resumable);
* :mod:`~cnnzoo.data.loaders` -- specs to loaders (:func:`build_data`);
* :mod:`~cnnzoo.data.feed` -- batches to model inputs on the device (normalised there, one ahead).
"""

from .decode import MAX_IMAGE_PIXELS, decode_image, decoder, encode_png, max_image_pixels, read_image
from .feed import (
    DecodeImages,
    DeviceTransform,
    EncodedBatch,
    ImageLoader,
    Normalize,
    ToDevice,
    collate_encoded,
    device_transform,
    feed,
    reads_ahead,
)
from .loaders import DECODES, DataBundle, DataSpec, build_data, count_classes, default_workers, parse_data_spec
from .sampling import EpochSampler, epoch_batches, epoch_seed
from .sources import (
    ImageDataset,
    SyntheticLoader,
    cifar_dataset,
    digits_dataset,
    imagefolder_dataset,
    mnist_dataset,
    read_cifar_batch,
    read_idx,
)
from .stats import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    DEFAULT_CROP_PCT,
    DIGITS_MEAN,
    DIGITS_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    normalisation,
)
from .transforms import MatchChannels, build_transforms, default_image_size

__all__ = [
    "DECODES",
    "DataBundle",
    "DataSpec",
    "build_data",
    "count_classes",
    "default_workers",
    "parse_data_spec",
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
    "EpochSampler",
    "epoch_batches",
    "epoch_seed",
    "ImageDataset",
    "SyntheticLoader",
    "cifar_dataset",
    "digits_dataset",
    "imagefolder_dataset",
    "mnist_dataset",
    "read_cifar_batch",
    "read_idx",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "DEFAULT_CROP_PCT",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "normalisation",
    "MatchChannels",
    "build_transforms",
    "default_image_size",
    "MAX_IMAGE_PIXELS",
    "decode_image",
    "decoder",
    "encode_png",
    "max_image_pixels",
    "read_image",
]
