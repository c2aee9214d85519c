"""The CIFAR-10 networks of He et al. 2015, Sec. 4.2: ResNet-20 ... ResNet-1202 and their plain twins.

"Deep Residual Learning for Image Recognition", Sec. 4.2 and Table 6: a 3x3 convolution on
the 32x32 image, then three stages of ``2n`` 3x3 layers (``n`` basic blocks) with 16, 32 and
64 filters on 32x32, 16x16 and 8x8 maps, subsampling by stride-2 convolutions, global
average pooling and a 10-way fully connected layer: ``6n + 2`` weighted layers. The shortcuts
are identities, and where the width doubles the identity is subsampled and padded with zero
maps, option (A) of Sec. 3.3 (:class:`~cnnzoo.models.resnet.ZeroPadShortcut`): "so our
residual models have exactly the same depth, width, and number of parameters as the plain
counterparts". The plain networks (``plain20`` ... ``plain56``, Fig. 6 left) are the same
stacks without shortcuts, whose training error grows with depth (the degradation problem).

Each is :class:`~cnnzoo.models.resnet.ResNet` with ``stem_type="cifar"``, ``channels=(16,
32, 64)`` and ``shortcut="A"`` (``"none"`` for the plain ones); the recipe of Sec. 4.2 is
the shipped ``resnet56_cifar10`` (``cnnzoo train --config resnet56_cifar10``).
"""

from __future__ import annotations

from typing import Any

from .registry import register_model
from .resnet import BasicBlock, ResNet, build_resnet

__all__ = [
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
]

_META: dict[str, Any] = dict(
    family="resnet_cifar",
    paper="Deep Residual Learning for Image Recognition",
    authors="K. He, X. Zhang, S. Ren, J. Sun",
    year=2015,
    url="https://arxiv.org/abs/1512.03385",
    input_size=(3, 32, 32),
    num_classes=10,
)
#: Sec. 4.2: 3x3 stem of 16 maps, stages of 16, 32, 64 filters, option (A) shortcuts
_CIFAR: dict[str, Any] = dict(channels=(16, 32, 64), stem_type="cifar", stem_width=16, shortcut="A")
_PLAIN: dict[str, Any] = dict(_CIFAR, shortcut="none")


def _cifar(name: str, depth: int, options: dict[str, Any], kwargs: dict[str, Any]) -> ResNet:
    n = (depth - 2) // 6  # 6n + 2 layers: n basic blocks of two 3x3 layers in each of 3 stages
    return build_resnet(name, BasicBlock, (n, n, n), options, kwargs)


@register_model(**_META, notes="n = 3; Table 6: 0.27M parameters, 8.75 % error")
def resnet20(**kwargs: Any) -> ResNet:
    """ResNet-20 for CIFAR (n = 3, 0.27M parameters); He et al. 2015, Sec. 4.2 and Table 6."""
    return _cifar("resnet20", 20, _CIFAR, kwargs)


@register_model(**_META, notes="n = 5; Table 6: 0.46M parameters, 7.51 % error")
def resnet32(**kwargs: Any) -> ResNet:
    """ResNet-32 for CIFAR (n = 5, 0.46M parameters); He et al. 2015, Sec. 4.2 and Table 6."""
    return _cifar("resnet32", 32, _CIFAR, kwargs)


@register_model(**_META, notes="n = 7; Table 6: 0.66M parameters, 7.17 % error")
def resnet44(**kwargs: Any) -> ResNet:
    """ResNet-44 for CIFAR (n = 7, 0.66M parameters); He et al. 2015, Sec. 4.2 and Table 6."""
    return _cifar("resnet44", 44, _CIFAR, kwargs)


@register_model(**_META, notes="n = 9; Table 6: 0.85M parameters, 6.97 % error")
def resnet56(**kwargs: Any) -> ResNet:
    """ResNet-56 for CIFAR (n = 9, 0.85M parameters); He et al. 2015, Sec. 4.2 and Table 6."""
    return _cifar("resnet56", 56, _CIFAR, kwargs)


@register_model(
    **_META,
    notes="n = 18; Table 6: 1.7M parameters, 6.43 % error (best of 5 runs; "
    "the paper warms up at lr 0.01 for about 400 iterations)",
)
def resnet110(**kwargs: Any) -> ResNet:
    """ResNet-110 for CIFAR (n = 18, 1.7M parameters); He et al. 2015, Sec. 4.2 and Table 6.

    The paper starts it at learning rate 0.01 "until the training error is below 80%
    (about 400 iterations)", then goes back to 0.1 (Sec. 4.2).
    """
    return _cifar("resnet110", 110, _CIFAR, kwargs)


@register_model(**_META, notes="n = 200; Table 6: 19.4M parameters, 7.93 % error (overfits)")
def resnet1202(**kwargs: Any) -> ResNet:
    """ResNet-1202 for CIFAR (n = 200, 19.4M parameters); He et al. 2015, Sec. 4.2, "Exploring over 1000 layers"."""
    return _cifar("resnet1202", 1202, _CIFAR, kwargs)


@register_model(**_META, notes="plain counterpart of resnet20 (Fig. 6 left)")
def plain20(**kwargs: Any) -> ResNet:
    """Plain-20: ResNet-20 without shortcuts; He et al. 2015, Sec. 4.2 and Fig. 6 (left)."""
    return _cifar("plain20", 20, _PLAIN, kwargs)


@register_model(**_META, notes="plain counterpart of resnet32 (Fig. 6 left)")
def plain32(**kwargs: Any) -> ResNet:
    """Plain-32: ResNet-32 without shortcuts; He et al. 2015, Sec. 4.2 and Fig. 6 (left)."""
    return _cifar("plain32", 32, _PLAIN, kwargs)


@register_model(**_META, notes="plain counterpart of resnet44 (Fig. 6 left)")
def plain44(**kwargs: Any) -> ResNet:
    """Plain-44: ResNet-44 without shortcuts; He et al. 2015, Sec. 4.2 and Fig. 6 (left)."""
    return _cifar("plain44", 44, _PLAIN, kwargs)


@register_model(**_META, notes="plain counterpart of resnet56 (Fig. 6 left)")
def plain56(**kwargs: Any) -> ResNet:
    """Plain-56: ResNet-56 without shortcuts; He et al. 2015, Sec. 4.2 and Fig. 6 (left)."""
    return _cifar("plain56", 56, _PLAIN, kwargs)
