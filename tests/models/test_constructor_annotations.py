"""A network's constructor arguments are checked once, against the annotations of its ``__init__``
(cnnzoo.models.arguments, run by ZooModel before the constructor): wrong types, choices outside a
``Literal``, counts and rates out of range are InvalidArgumentError naming the argument and what
it takes, whether the network is built by create_model or by its class."""

from collections.abc import Callable, Sequence

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.errors import InvalidArgumentError
from cnnzoo.models.arguments import Count, Rate, describe, fits
from cnnzoo.models.densenet import DenseNet
from cnnzoo.models.googlenet import GoogLeNet
from cnnzoo.models.lenet import LeNet5
from cnnzoo.models.resnet import BasicBlock, Bottleneck, ResNet


@pytest.mark.parametrize(
    "build, message",
    [
        # a string that Python would read as true
        (
            lambda: cnnzoo.create_model("resnet18", zero_init_residual="false"),
            "zero_init_residual must be True, False or None, got 'false'",
        ),
        (lambda: cnnzoo.create_model("resnet18", act_before_attn="yes"), "act_before_attn must be True or False"),
        (lambda: cnnzoo.create_model("resnet50", stride_in_1x1=1), "stride_in_1x1 must be True or False, got 1"),
        (lambda: cnnzoo.create_model("googlenet", aux_logits="no"), "aux_logits must be True or False"),
        (lambda: GoogLeNet(init_weights="true"), "init_weights must be True, False or None"),
        (
            lambda: cnnzoo.create_model("densenet121", memory_efficient="false"),
            "memory_efficient must be True or False",
        ),
        # choices
        (
            lambda: cnnzoo.create_model("resnet18", stem_type="5x5"),
            "stem_type must be '7x7', 'deep' or 'cifar', got '5x5'",
        ),
        (lambda: cnnzoo.create_model("resnet18", shortcut="D"), "shortcut must be one of 'A', 'B', 'C' or 'none'"),
        (lambda: cnnzoo.create_model("googlenet", variant="v3"), "variant must be 'torchvision' or 'paper', got 'v3'"),
        (lambda: LeNet5(variant=1998), "variant must be 'modern' or 'paper', got 1998"),
        (lambda: DenseNet(stem="tiny"), "stem must be 'imagenet' or 'cifar'"),
        (lambda: ResNet(nn.Conv2d, (2, 2, 2, 2)), "block must be one of BasicBlock, Bottleneck, PreActBasicBlock"),
        # types of numbers, sequences and callables
        (lambda: cnnzoo.create_model("resnet18", output_stride=True), "output_stride must be an integer or None"),
        (lambda: cnnzoo.create_model("resnet18", output_stride=16.0), "output_stride must be an integer or None"),
        (
            lambda: cnnzoo.create_model("resnet18", replace_stride_with_dilation="TTF"),
            "replace_stride_with_dilation must be a sequence of booleans or None",
        ),
        (
            lambda: cnnzoo.create_model("resnet18", replace_stride_with_dilation=[0, 1, 1]),
            "replace_stride_with_dilation must be",
        ),
        (
            lambda: ResNet(BasicBlock, "2222"),
            "layers must be a sequence of 3 integers or a sequence of 4 integers, got '2222'",
        ),
        (lambda: ResNet(BasicBlock, (2, 2, 2.0, 2)), r"layers\[2\] must be a whole number >= 1, got 2.0"),
        (
            lambda: cnnzoo.create_model("resnet18", attn_layer="se"),
            r"attn_layer must be a callable \(int\) -> Module or None",
        ),
        (
            lambda: cnnzoo.create_model("resnet18", norm_layer=3),
            r"norm_layer must be a callable \(int\) -> Module or None",
        ),
        (lambda: cnnzoo.create_model("densenet121", compression="half"), "compression must be a number"),
        (
            lambda: cnnzoo.create_model("mobilenet_v1", width_mult=True),
            r"width_mult must be a number in \(0, 8\], got True",
        ),
        (lambda: cnnzoo.create_model("zfnet", widths=(512, 1024)), "widths must be a sequence of 3 integers"),
        (lambda: cnnzoo.create_model("zfnet", widths="abc"), "widths must be a sequence of 3 integers"),
        # the bounds of counts and rates, item by item in sequences
        (lambda: cnnzoo.create_model("zfnet", widths=(512, 0, 512)), r"widths\[1\] must be a whole number >= 1, got 0"),
        (lambda: DenseNet(block_config=(6, 0)), r"block_config\[1\] must be a whole number >= 1, got 0"),
        (lambda: DenseNet(block_config=(6, "12")), r"block_config\[1\] must be a whole number >= 1"),
        (lambda: DenseNet(block_config=()), "block_config must be a non-empty sequence of integers, got ()"),
        (lambda: cnnzoo.create_model("googlenet", aux_drop_rate=1.0), r"aux_drop_rate must be a number in \[0, 1\)"),
        (lambda: cnnzoo.create_model("resnet18", down_kernel_size=0), "down_kernel_size must be a whole number >= 1"),
        (lambda: cnnzoo.create_model("resnet18", reduce_first=True), "reduce_first must be a whole number >= 1"),
        # a family's own check of a structured argument, carried by its annotation, speaks for it
        (lambda: cnnzoo.create_model("mobilenet_v2", inverted_residual_setting=[[1, 16, 1, 3]]), "first stride 1 or 2"),
        (lambda: cnnzoo.create_model("mobilenet_v2", inverted_residual_setting="x"), r"\[t, c, n, s\] rows .* got 'x'"),
        (
            lambda: cnnzoo.create_model("mobilenet_v2", inverted_residual_setting=[[1, "a", 1, 1]]),
            r"\[t, c, n, s\] rows",
        ),
        (
            lambda: cnnzoo.create_model("mobilenet_v2", width_mult=9),
            r"width_mult must be a number in \(0, 8\]",
        ),
    ],
)
def test_an_argument_its_annotation_does_not_admit_is_refused(build, message):
    with torch.device("meta"), pytest.raises(InvalidArgumentError, match=message):
        build()


def test_the_message_names_the_network_as_built():
    with pytest.raises(InvalidArgumentError, match="^resnet34: stem_type"):
        cnnzoo.create_model("resnet34", stem_type=7)
    with pytest.raises(InvalidArgumentError, match="^ResNet: stem_type"):
        ResNet(Bottleneck, (1, 1, 1, 1), stem_type=7)


def test_what_the_annotations_admit_builds():
    # an int is a number, a list is a tuple (YAML and JSON give lists), a subclass is its block type
    class MyBlock(BasicBlock):
        pass

    with torch.device("meta"):
        assert cnnzoo.create_model("zfnet", widths=[512, 1024, 512]).features[8].out_channels == 512
        assert cnnzoo.create_model("densenet121", compression=1).block_config == (6, 12, 24, 16)
        assert cnnzoo.create_model("mobilenet_v1", width_mult=1).width_mult == 1
        assert cnnzoo.create_model("resnet18", output_stride=None, zero_init_residual=None) is not None
        assert isinstance(ResNet(MyBlock, (1, 1, 1, 1), act_before_attn=True).layer1[0], MyBlock)
        assert cnnzoo.create_model("resnet18", norm_layer=lambda c: nn.GroupNorm(1, c)).bn1.num_groups == 1


def test_fits_and_describe_read_the_annotation():
    assert fits([1, 2], tuple[int, int]) and not fits([1, 2], tuple[int, int, int])
    assert fits(3, float) and not fits(True, float) and not fits(True, int)
    assert fits(None, Rate | None) and fits(0.5, Rate | None)
    assert describe(bool | None) == "True, False or None"
    assert describe(Count) == "an integer"
    assert describe(tuple[Count, Count]) == "a sequence of 2 integers"
    assert describe(tuple[int, str]) == "a tuple[int, str]"
    assert describe(list[Sequence[int]] | None) == "a sequence of sequences of integers or None"
    assert describe(Callable[..., nn.Module] | None) == "a callable (...) -> Module or None"


def test_timms_zero_init_last_is_checked_as_zero_init_residual():
    # timm's name reaches the network's own argument unchanged: a string is refused there, not read as true
    with pytest.raises(InvalidArgumentError, match="zero_init_residual must be True, False or None, got 'false'"):
        cnnzoo.create_model("resnet18", zero_init_last="false")
    assert torch.equal(cnnzoo.create_model("resnet18", zero_init_last=False).layer1[0].bn2.weight, torch.ones(64))
    assert not cnnzoo.create_model("resnet18", zero_init_last=True).layer1[0].bn2.weight.any()
