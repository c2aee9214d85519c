"""A ``--data`` spec is read one way: the kind a run's record is given (``data_kind``, from the
text alone) is the kind the run loaded (``parse_data_spec``)."""

import pytest

from cnnzoo.data import parse_data_spec
from cnnzoo.data.stats import data_kind, eval_preprocessing


@pytest.mark.parametrize(
    "spec",
    [
        "digits",
        "synthetic",
        "synthetic:7",
        "mnist:{d}",
        "cifar10:{d}",
        "cifar100:{d}",
        "imagefolder:{d}",
        "{d}",
        "digits:x",
        "mnist",
        "cifar10",
    ],
)
def test_the_recorded_kind_is_the_loaded_kind(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    # folders whose names look like kinds: "--data digits:x" or "--data mnist" is a folder of that name
    for name in ("d", "digits:x", "mnist", "cifar10"):
        (tmp_path / name).mkdir()
    spec = spec.format(d="d")
    assert data_kind(spec) == parse_data_spec(spec).kind


def test_a_folder_named_like_a_kind_is_evaluated_as_an_image_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits:x").mkdir()
    assert parse_data_spec("digits:x").kind == "imagefolder"
    # predict then crops as the run's validation did, with ImageNet's statistics
    assert eval_preprocessing("digits:x", 32, 3)["crop_mode"] == "center"
