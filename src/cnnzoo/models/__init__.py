"""The networks, one module per family; importing this registers every model.

Each family module is imported explicitly (no discovery by file name), so a missing or
misnamed module is an import error, not a silently absent model.
"""

from . import alexnet, densenet, googlenet, lenet, mobilenet, resnet, resnet_cifar, senet, vgg, zfnet  # noqa: F401
from .googlenet import GoogLeNetOutputs, googlenet_loss  # noqa: F401

__all__ = [
    "lenet",
    "alexnet",
    "zfnet",
    "vgg",
    "googlenet",
    "resnet",
    "resnet_cifar",
    "senet",
    "densenet",
    "mobilenet",
    "GoogLeNetOutputs",
    "googlenet_loss",
]
