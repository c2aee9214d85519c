"""Transfer learning as it is taught: what --freeze freezes (the backbone, the convolutional base,
up to a named layer, all but the last N stages), the warning for frozen random weights, the line
on the data a run trains on, and the line on the weights a file gave."""

import pytest
import torch
from helpers import cli_error, image_folder, meta_model, run_cli
from torch import nn

import cnnzoo
from cnnzoo.data.loaders import build_data, describe_data
from cnnzoo.errors import ConfigError, InvalidArgumentError
from cnnzoo.training.config import TrainConfig
from cnnzoo.training.parts import freeze_layers, frozen_and_trained, set_train_mode

QUICK = dict(epochs=1, verbose=False, device="cpu", threads=1, workers=0)


def trainable(model: nn.Module) -> set[str]:
    """The top-level names (and Sequential children) that still have trainable parameters."""
    return {n.rsplit(".", 1)[0] for n, p in model.named_parameters() if p.requires_grad}


# ---------------------------------------------------------------- what each choice freezes
def test_backbone_freezes_vggs_fc6_and_fc7_and_features_does_not():
    vgg = meta_model("vgg11")
    freeze_layers(vgg, "backbone")
    assert trainable(vgg) == {"classifier.6"}  # fc8 only: fc6 (classifier.0) and fc7 (classifier.3) frozen
    vgg = meta_model("vgg11")
    freeze_layers(vgg, "features")  # Keras's conv_base.trainable = False
    assert trainable(vgg) == {"classifier.0", "classifier.3", "classifier.6"}
    assert frozen_and_trained(vgg) == (["features"], ["classifier"])


def test_alexnet_features_is_its_convolutional_base():
    net = meta_model("alexnet")
    frozen = freeze_layers(net, "features")
    assert all(n.startswith("features") for n, m in net.named_modules() if m in frozen and n)
    assert not any(p.requires_grad for p in net.features.parameters())
    assert all(p.requires_grad for p in net.classifier.parameters())


def test_a_named_layer_freezes_it_and_everything_before_it():
    net = meta_model("resnet18")
    freeze_layers(net, "layer2")
    assert {n.split(".")[0] for n in trainable(net)} == {"layer3", "layer4", "fc"}


@pytest.mark.parametrize(
    "n, trained",
    [
        (0, {"fc"}),
        (1, {"layer4", "fc"}),
        (2, {"layer3", "layer4", "fc"}),
        (5, {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"}),
    ],
)
def test_the_last_n_stages_as_torchvisions_trainable_backbone_layers(n, trained):
    net = meta_model("resnet18")
    freeze_layers(net, str(n))
    assert {name.split(".")[0] for name in trainable(net)} == trained


def test_googlenets_auxiliary_classifiers_stay_trainable():
    net = meta_model("googlenet")
    freeze_layers(net, "backbone")
    assert {n.split(".")[0] for n in trainable(net)} == {"fc", "aux1", "aux2"}
    assert not any(p.requires_grad for p in net.aux1.conv.parameters())  # only their classifiers train


def test_frozen_batchnorm_keeps_its_statistics_and_trained_batchnorm_learns():
    net = cnnzoo.create_model("resnet18", num_classes=3)
    frozen = freeze_layers(net, "1")
    set_train_mode(net, net, frozen)
    assert not net.bn1.training and not net.layer3[0].bn1.training
    assert net.layer4[0].bn1.training and net.training


@pytest.mark.parametrize("what, words", [("layer9", "layer9"), ("6", "5 stages"), ("", "unknown layer name")])
def test_bad_freeze_values_are_refused_with_what_there_is(what, words):
    with pytest.raises(InvalidArgumentError, match=words):
        freeze_layers(meta_model("resnet18"), what)


def test_freeze_and_freeze_backbone_must_agree():
    with pytest.raises(ConfigError, match="freeze_backbone is freeze=backbone"):
        TrainConfig(model="lenet5", freeze_backbone=True, freeze="f6").validate()
    with pytest.raises(ConfigError, match="layer_decay"):
        TrainConfig(model="lenet5", freeze="features", layer_decay=0.5).validate()


# ---------------------------------------------------------------- what a run says before it starts
def test_freezing_random_weights_warns_even_when_quiet(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "train",
        "--model",
        "lenet5",
        "--data",
        "synthetic:8",
        "--batch-size",
        "4",
        "--epochs",
        "1",
        "--freeze",
        "f6",
        "--quiet",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--output",
        str(tmp_path / "a"),
    )
    assert code == 0
    (line,) = [x for x in err.splitlines() if "warning" in x]
    assert "--freeze f6 without --pretrained freezes randomly initialised weights" in line


def test_freezing_pretrained_weights_does_not_warn_and_says_what_was_loaded(capsys, tmp_path):
    cnnzoo.train(
        model="lenet5",
        pretrained=True,
        freeze_backbone=True,
        data="synthetic:8",
        batch_size=4,
        output=str(tmp_path / "a"),
        **{**QUICK, "verbose": True},
    )
    out, err = capsys.readouterr()
    assert "warning" not in err
    n = len(cnnzoo.create_model("lenet5").state_dict())
    assert f"pretrained: loaded {n} of the model's {n} tensors from lenet5." in out
    assert "the file's classifier is kept (10 classes)" in out
    assert "frozen: features, f6; trained: output" in out


def test_a_local_file_for_fewer_classes_says_the_head_was_replaced(capsys, tmp_path):
    torch.save(cnnzoo.create_model("lenet5").state_dict(), tmp_path / "w.pth")
    data = image_folder(tmp_path / "data", classes=("a", "b", "c"), n=3)
    cnnzoo.train(
        model="lenet5",
        pretrained=str(tmp_path / "w.pth"),
        freeze="features",
        data=str(data),
        batch_size=4,
        output=str(tmp_path / "a"),
        **{**QUICK, "verbose": True},
    )
    out = capsys.readouterr().out
    n = len(cnnzoo.create_model("lenet5").state_dict())
    line = next(x for x in out.splitlines() if x.startswith("pretrained:"))
    assert f"loaded {n - 2} of the model's {n} tensors from {tmp_path / 'w.pth'}" in line  # all but output's 2
    assert "classifier replaced: output initialised afresh for 3 classes (the file's 10-class head" in line
    assert (
        "data: 9 training images in 3 classes, 9 validation images; 2 batches of 4; drop_last leaves out "
        "1 image each epoch" in out
    )


@pytest.mark.parametrize(
    "n, batch, tail",
    [
        (4, 4, "2 batches of 4, every image used each epoch"),
        (3, 4, "1 batch of 4; drop_last leaves out 2 images each epoch (others each time: the order is reshuffled)"),
    ],
)
def test_the_data_line_counts_images_classes_and_what_drop_last_leaves_out(tmp_path, n, batch, tail):
    bundle = build_data(
        str(image_folder(tmp_path, n=n)),
        image_size=16,
        in_chans=3,
        batch_size=batch,
        workers=0,
        device=torch.device("cpu"),
    )
    assert describe_data(bundle) == f"data: {2 * n} training images in 2 classes, {2 * n} validation images; {tail}"


def test_an_unknown_layer_is_one_line_and_status_2(capsys, tmp_path):
    line = cli_error(
        capsys,
        [
            "train",
            "--model",
            "lenet5",
            "--data",
            "synthetic:8",
            "--freeze",
            "f7",
            "--device",
            "cpu",
            "--output",
            str(tmp_path / "a"),
        ],
    )
    assert "f7" in line and "f6" in line
