"""One weight-initialisation walk (layers.init_weights) draws every family's weights as the loops it
replaced did: per tensor the same distribution, and the same tensors set to zero or one.

Each family's former loop is kept below as the reference; both run on the same small network at a
fixed seed (the reference after resetting every layer to PyTorch's default, so that a tensor the
new code sets and the old did not is seen).
"""

import math
from functools import partial

import pytest
import torch
from torch import nn

from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.googlenet import GoogLeNet
from cnnzoo.models.layers import SqueezeExcitation
from cnnzoo.models.lenet import LeNet5
from cnnzoo.models.mobilenet import MobileNetV1, MobileNetV2
from cnnzoo.models.resnet import BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck, ResNet
from cnnzoo.models.vgg import VGG


def _old_he_fan_out(modules) -> None:  # noqa: ANN001 - torchvision's ResNet and VGG loop
    for m in modules:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _old_resnet(model: nn.Module, zero_init_residual: bool) -> None:
    _old_he_fan_out(model.modules())
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck)):
                m.zero_init_last()


def _old_vgg(model: nn.Module) -> None:
    _old_he_fan_out(model.features.modules())
    for m in model.classifier.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _old_densenet(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    nn.init.zeros_(model.classifier.bias)  # its init_classifier, unchanged


def _old_mobilenet(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _old_googlenet(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Conv2d, nn.Linear)) and model.variant == "paper":
            nn.init.kaiming_uniform_(m.weight, nonlinearity="linear")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.2)
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)


def _old_lenet(model: nn.Module) -> None:
    if model.variant != "paper":
        return
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            bound = 2.4 / m.weight[0].numel()
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound)


def _small_resnet(block: type, **kw: object) -> ResNet:
    return ResNet(block, (1, 2, 1, 1), channels=(8, 16, 16, 16), stem_width=8, num_classes=7, **kw)


_SE = partial(SqueezeExcitation, reduction=4)
#: (name, build the network, the old initialisation)
CASES = [
    # torchvision's initialisation (every norm at one) is now asked for: zero-init is the default
    ("resnet", lambda: _small_resnet(BasicBlock, zero_init_residual=False), lambda m: _old_resnet(m, False)),
    (
        "resnet_zero_init_se",
        lambda: _small_resnet(BasicBlock, zero_init_residual=True, attn_layer=_SE),
        lambda m: _old_resnet(m, True),
    ),
    (
        "resnext_zero_init",
        lambda: _small_resnet(Bottleneck, groups=2, width_per_group=8, zero_init_residual=True),
        lambda m: _old_resnet(m, True),
    ),
    (
        "resnetv2_zero_init",
        lambda: _small_resnet(PreActBottleneck, zero_init_residual=True),
        lambda m: _old_resnet(m, True),
    ),
    ("vgg_bn", lambda: VGG((8, "M", 16, "M"), batch_norm=True, num_classes=7), _old_vgg),
    ("densenet", lambda: DenseNet(4, (2, 2), 8, stem="cifar", num_classes=7), _old_densenet),
    ("mobilenet_v1", lambda: MobileNetV1(width_mult=0.25, num_classes=7), _old_mobilenet),
    ("mobilenet_v2", lambda: MobileNetV2(width_mult=0.25, num_classes=7), _old_mobilenet),
    ("googlenet", lambda: GoogLeNet(num_classes=7), _old_googlenet),
    ("googlenet_paper", lambda: GoogLeNet(num_classes=7, variant="paper"), _old_googlenet),
    ("lenet5_paper", lambda: LeNet5(variant="paper"), _old_lenet),
    ("lenet5", lambda: LeNet5(), _old_lenet),
]


def _old_path(build, old_init) -> nn.Module:  # noqa: ANN001
    model = build()
    for m in model.modules():  # back to PyTorch's defaults, then the old initialisation alone
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            m.reset_parameters()
    old_init(model)
    return model


@pytest.mark.parametrize("name,build,old_init", CASES, ids=[c[0] for c in CASES])
def test_initialisation_matches_the_former_loops(name, build, old_init):
    torch.manual_seed(0)
    new = dict(build().named_parameters())
    torch.manual_seed(1)  # an independent draw: the comparison is of distributions, not of values
    old = dict(_old_path(build, old_init).named_parameters())
    assert list(new) == list(old)
    zeros = [k for k, v in new.items() if bool((v == 0).all())]
    assert zeros == [k for k, v in old.items() if bool((v == 0).all())]
    ones = [k for k, v in new.items() if bool((v == 1).all())]
    assert ones == [k for k, v in old.items() if bool((v == 1).all())]
    if name.endswith("zero_init") or name.endswith("zero_init_se"):
        assert any(k.endswith(("bn2.weight", "bn3.weight", "conv3.weight")) for k in zeros)  # the branches' last
    for key, a in new.items():
        b = old[key].detach()
        a = a.detach()
        n = a.numel()
        if key in zeros or key in ones or n < 8:
            continue
        # sampling error of a std estimate is about std / sqrt(2n); of a mean, std / sqrt(n)
        assert abs(a.std().item() - b.std().item()) <= 6 * b.std().item() / math.sqrt(2 * n) + 1e-7, key
        assert abs(a.mean().item() - b.mean().item()) <= 6 * b.std().item() / math.sqrt(n) + 1e-7, key
        assert a.abs().max().item() <= 1.0001 * max(b.abs().max().item(), 6 * b.std().item()), key
