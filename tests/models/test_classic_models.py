"""Behaviour of LeNet-5, AlexNet, ZFNet, VGG and GoogLeNet beyond the generic registry tests.

The paper-faithful pieces (LeNet-5's connection table, subsampling, scaled tanh and RBF
output; AlexNet's grouped convolutions and LRN; the feature-map sizes printed in the papers'
figures), loading torchvision's state dicts by identity, and GoogLeNet's auxiliary heads.
"""

import pytest
import torch
from helpers import n_params, randomise
from torch import nn

import cnnzoo
from cnnzoo.errors import InputSizeError, InvalidArgumentError
from cnnzoo.models import GoogLeNetOutputs, googlenet_loss
from cnnzoo.models.alexnet import krizhevsky_lrn
from cnnzoo.models.lenet import C3_CONNECTION_TABLE, EuclideanRBF, PartiallyConnectedConv2d, ScaledTanh, Subsampling


def map_sizes(features: nn.Sequential, x: torch.Tensor, kind: type) -> list[int]:
    """Spatial size after every module of type ``kind`` in ``features``."""
    sizes = []
    for layer in features:
        x = layer(x)
        if isinstance(layer, kind):
            sizes.append(x.shape[-1])
    return sizes


# ----------------------------------------------------------------------------- LeNet-5
def test_lenet5_paper_layer_counts():
    """LeCun et al. 1998, Sec. II-B: the trainable parameters of every layer."""
    m = cnnzoo.create_model("lenet5", variant="paper")
    f = m.features
    counts = [n_params(x) for x in (f.c1, f.s2, f.c3, f.s4, f.c5, m.f6, m.output)]
    assert counts == [156, 12, 1_516, 32, 48_120, 10_164, 840]
    assert isinstance(m.output, EuclideanRBF) and not hasattr(m.output, "bias")
    assert isinstance(f.act1, ScaledTanh) and isinstance(f.s2, Subsampling)


def test_lenet5_modern_is_relu_maxpool_linear():
    m = cnnzoo.create_model("lenet5")
    assert m.variant == "modern" and n_params(m) == 61_706
    assert isinstance(m.features.s2, nn.MaxPool2d) and isinstance(m.features.act1, nn.ReLU)
    assert isinstance(m.output, nn.Linear) and m.features.c3.weight.shape == (16, 6, 5, 5)


def test_c3_connection_table_structure():
    """Table I: maps 0-5 read 3 contiguous S2 maps, 6-11 four contiguous, 12-14 four
    non-contiguous, 15 all six; 60 connections in all."""

    def contiguous(maps):  # cyclically contiguous among the 6 S2 maps
        return any(set(maps) == {(s + i) % 6 for i in range(len(maps))} for s in range(6))

    table = C3_CONNECTION_TABLE
    assert len(table) == 16 and sum(len(t) for t in table) == 60
    assert all(len(t) == 3 and contiguous(t) for t in table[:6])
    assert all(len(t) == 4 and contiguous(t) for t in table[6:12])
    assert all(len(t) == 4 and not contiguous(t) for t in table[12:15])
    assert set(table[15]) == set(range(6))
    assert len({frozenset(t) for t in table}) == 16  # every map reads a different set


def _dense_weight(layer: PartiallyConnectedConv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The equivalent full convolution: zero kernels where the table has no connection."""
    weight = torch.zeros(layer.out_channels, layer.in_channels, *layer.kernel_size)
    bias = torch.zeros(layer.out_channels)
    maps_by_fan_in = sorted({len(t) for t in layer.table})
    for conv, fan_in in zip(layer.convs, maps_by_fan_in):
        maps = [i for i, t in enumerate(layer.table) if len(t) == fan_in]
        for g, out_map in enumerate(maps):
            for j, in_map in enumerate(layer.table[out_map]):
                weight[out_map, in_map] = conv.weight[g, j]
            bias[out_map] = conv.bias[g]
    return weight, bias


@pytest.mark.parametrize("table", [C3_CONNECTION_TABLE, ((2, 0), (1,), (0, 1, 2), (1, 2))], ids=["table_I", "unsorted"])
def test_partially_connected_conv_equals_masked_dense_conv(table):
    layer = PartiallyConnectedConv2d(table, kernel_size=3 if len(table) < 16 else 5)
    x = torch.randn(2, layer.in_channels, 10, 10)
    weight, bias = _dense_weight(layer)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), nn.functional.conv2d(x, weight, bias))
    # an input map outside an output map's row of the table does not reach it
    x.requires_grad_(True)
    layer(x)[:, 1].sum().backward()
    unused = set(range(layer.in_channels)) - set(table[1])
    assert all(x.grad[:, c].abs().sum() == 0 for c in unused)
    assert all(x.grad[:, c].abs().sum() > 0 for c in table[1])


def test_subsampling_scaled_tanh_and_rbf():
    s = Subsampling(2)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([2.0, -1.0]))
        s.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    blocks = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))  # 2x2 sums
    expected = blocks * torch.tensor([2.0, -1.0]).view(1, 2, 1, 1) + torch.tensor([0.5, 1.0]).view(1, 2, 1, 1)
    torch.testing.assert_close(s(x), expected)

    f = ScaledTanh()  # Appendix A: f(+-1) = +-1
    torch.testing.assert_close(f(torch.tensor([1.0, -1.0, 0.0])), torch.tensor([1.0, -1.0, 0.0]), atol=1e-4, rtol=0)

    rbf = EuclideanRBF(84, 10)
    assert set(rbf.weight.unique().tolist()) <= {-1.0, 1.0}
    x = torch.randn(3, 84)
    expected = -torch.cdist(x, rbf.weight).pow(2)
    torch.testing.assert_close(rbf(x), expected, atol=1e-3, rtol=1e-5)
    # the class whose centre is the input is the most likely
    assert rbf(rbf.weight.detach()).argmax(1).tolist() == list(range(10))


def test_lenet5_paper_variant_learns_a_tiny_batch():
    torch.manual_seed(0)
    m = cnnzoo.create_model("lenet5", variant="paper", num_classes=4)
    x, y = torch.randn(8, 1, 32, 32), torch.arange(8) % 4
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(25):
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (m(x).argmax(1) == y).all()


def test_lenet5_input_size_and_variants():
    m = cnnzoo.create_model("lenet5").eval()
    with pytest.raises(InputSizeError, match="32x32"):
        m(torch.randn(1, 1, 36, 36))
    # the convolutional part runs over a larger image (the replicated network of Sec. VII)
    assert m.forward_features(torch.randn(1, 1, 40, 40)).shape == (1, 120, 3, 3)
    with pytest.raises(InvalidArgumentError, match="variant"):
        cnnzoo.create_model("lenet5", variant="1998")
    paper = cnnzoo.create_model("lenet5", variant="paper")
    paper.reset_classifier(26)
    assert isinstance(paper.output, EuclideanRBF) and paper.output.weight.shape == (26, 84)


# ----------------------------------------------------------------------- AlexNet, ZFNet
def test_krizhevsky_lrn_is_the_papers_formula():
    """Sec. 3.3: b = a / (k + alpha * sum over n adjacent maps of a^2)^beta, k=2, n=5,
    alpha=1e-4, beta=0.75 (alpha not divided by n)."""
    a = torch.randn(2, 8, 3, 3) * 30
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    sq = nn.functional.pad(a.pow(2), (0, 0, 0, 0, n // 2, n // 2))
    window = torch.stack([sq[:, i : i + a.shape[1]] for i in range(n)]).sum(0)
    expected = a / (k + alpha * window).pow(beta)
    torch.testing.assert_close(krizhevsky_lrn()(a), expected)


def test_alexnet_original_layout():
    m = cnnzoo.create_model("alexnet_original").eval()
    convs = [x for x in m.features if isinstance(x, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # Sec. 3.2: the two GPUs
    kinds = [type(x).__name__ for x in m.features]
    assert kinds[:4] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    assert kinds.count("LocalResponseNorm") == 2 and kinds.count("MaxPool2d") == 3
    with torch.no_grad():  # Fig. 2: 55x55 after conv1, 27, 13, 13, 13 and 6x6 after pool5
        assert map_sizes(m.features, torch.randn(1, 3, 227, 227), nn.Conv2d) == [55, 27, 13, 13, 13]
        assert m.forward_features(torch.randn(1, 3, 227, 227)).shape == (1, 256, 6, 6)
    # dropout after fc6's and fc7's ReLU (Sec. 4.2); torchvision's alexnet has it before
    assert isinstance(m.classifier[2], nn.Dropout)
    assert isinstance(cnnzoo.create_model("alexnet").classifier[0], nn.Dropout)


def test_zfnet_map_sizes_follow_fig3():
    m = cnnzoo.create_model("zfnet").eval()
    convs = [x for x in m.features if isinstance(x, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.groups) for c in convs] == [
        (96, 7, 2, 1),
        (256, 5, 2, 1),
        (384, 3, 1, 1),
        (384, 3, 1, 1),
        (256, 3, 1, 1),
    ]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert map_sizes(m.features, x, nn.Conv2d) == [110, 26, 13, 13, 13]
        assert map_sizes(m.features, x, nn.MaxPool2d) == [55, 13, 6]


# ---------------------------------------------------------------------------------- VGG
@pytest.mark.parametrize("name,convs", [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_depths_follow_table1(name, convs):
    for bn in (False, True):
        with torch.device("meta"):
            m = cnnzoo.create_model(name + ("_bn" if bn else ""))
        layers = list(m.features)
        conv_layers = [x for x in layers if isinstance(x, nn.Conv2d)]
        linear = [x for x in m.classifier if isinstance(x, nn.Linear)]
        assert len(conv_layers) == convs and len(conv_layers) + len(linear) == int(name[3:])
        assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in conv_layers)
        assert sum(isinstance(x, nn.MaxPool2d) for x in layers) == 5
        assert sum(isinstance(x, nn.BatchNorm2d) for x in layers) == (convs if bn else 0)


@pytest.mark.parametrize("transform_input", [False, True])
def test_googlenet_matches_torchvision_in_both_modes(transform_input):
    torchvision = pytest.importorskip("torchvision")
    theirs = randomise(
        torchvision.models.googlenet(
            aux_logits=True, init_weights=True, dropout=0.0, dropout_aux=0.0, transform_input=transform_input
        )
    )
    ours = cnnzoo.create_model("googlenet", transform_input=transform_input, drop_rate=0.0, aux_drop_rate=0.0)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), atol=1e-5, rtol=0)
        mine, tv = ours.train()(x), theirs.train()(x)
    # torchvision returns (logits, aux_logits2, aux_logits1); ours is in network order
    torch.testing.assert_close(mine.logits, tv.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.aux1, tv.aux_logits1, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.aux2, tv.aux_logits2, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- GoogLeNet
def test_googlenet_aux_heads_and_transform_input():
    m = cnnzoo.create_model("googlenet", num_classes=6)
    assert m.aux1.conv.conv.in_channels == 512 and m.aux2.conv.conv.in_channels == 528  # (4a), (4d)
    no_aux = cnnzoo.create_model("googlenet", aux_logits=False)
    assert not any(k.startswith("aux") for k in no_aux.state_dict())
    with pytest.raises(InvalidArgumentError, match="in_chans"):
        cnnzoo.create_model("googlenet", in_chans=1, transform_input=True)
    gray = cnnzoo.create_model("googlenet", in_chans=1)
    with pytest.raises(InvalidArgumentError, match="in_chans"):
        gray.transform_input = True  # what the weights code sets after building
    m.transform_input = True
    assert m.transform_input is True


def test_googlenet_reset_classifier_resets_aux_heads():
    m = cnnzoo.create_model("googlenet", num_classes=6).train()
    x = torch.randn(2, 3, 32, 32)
    m.reset_classifier(3)
    out = m(x)
    assert out.logits.shape == out.aux1.shape == out.aux2.shape == (2, 3)
    m.reset_classifier(0)
    out = m(x)
    assert out.logits.shape == (2, 1024) and out.aux1.shape == (2, 1024)


def test_googlenet_loss_weights_and_criterion():
    torch.manual_seed(0)
    logits, aux1, aux2 = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    target = torch.tensor([0, 4, 2])
    out = GoogLeNetOutputs(logits, aux1, aux2)

    def l1(o, t):  # any criterion(output, target) works
        return (o - nn.functional.one_hot(t, 5).float()).abs().mean()

    expected = l1(logits, target) + 0.5 * (l1(aux1, target) + l1(aux2, target))
    torch.testing.assert_close(googlenet_loss(out, target, criterion=l1, aux_weight=0.5), expected)
    ce = nn.functional.cross_entropy
    torch.testing.assert_close(googlenet_loss(out, target, aux_weight=0.0), ce(logits, target))
    with pytest.raises(InvalidArgumentError, match="GoogLeNetOutputs"):
        googlenet_loss((logits, aux1, aux2), target)  # a plain tuple (e.g. torchvision's)


# ------------------------------------------------------------------------ shared checks
@pytest.mark.parametrize("name", ["lenet5", "alexnet", "alexnet_original", "zfnet", "vgg11", "googlenet"])
def test_unknown_and_bad_arguments(name):
    with pytest.raises(InvalidArgumentError, match="dropuot"):
        cnnzoo.create_model(name, dropuot=0.1)
    if name != "lenet5":
        with torch.device("meta"), pytest.raises(InvalidArgumentError, match="drop_rate"):
            cnnzoo.create_model(name, drop_rate=1.5)
