"""The accuracy chart's weight tags are looked up where every tag is (the catalogue), and the benchmark's
run counts are bounded by the one argument table, like every other count."""

from __future__ import annotations

import pytest

import cnnzoo
from cnnzoo.apps import accuracy_chart
from cnnzoo.errors import InvalidArgumentError, UnknownWeightsError
from cnnzoo.limits import LIMITS


def test_an_unknown_tag_lists_the_models_tags(tmp_path):
    with pytest.raises(UnknownWeightsError, match=r"unknown weight tag 'resnet50.nope'; resnet50 has: .*tv_in1k"):
        accuracy_chart(tmp_path / "c.png", "resnet50.nope")
    assert not (tmp_path / "c.png").exists()


def test_weights_without_an_imagenet_top1_are_refused(tmp_path):
    from cnnzoo.weights.catalogue import CATALOGUE

    tag = next(t for t, e in CATALOGUE.items() if e.top1 is None or not e.dataset.startswith("ImageNet"))
    with pytest.raises(InvalidArgumentError, match=f"weights {tag} have no published ImageNet top-1"):
        accuracy_chart(tmp_path / "c.png", tag)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"warmup": -1}, "warmup must be a whole number from 0 to"),
        ({"warmup": 1.5}, "warmup must be a whole number"),
        ({"repeats": 0}, "repeats must be a whole number from 1 to"),
        ({"repeats": True}, "repeats must be a whole number"),
        ({"repeats": LIMITS["repeats"] + 1}, f"repeats must be a whole number from 1 to {LIMITS['repeats']:,}"),
        ({"warmup": LIMITS["warmup"] + 1}, f"warmup must be a whole number from 0 to {LIMITS['warmup']:,}"),
    ],
)
def test_benchmark_run_counts_come_from_the_table(kwargs, words):
    with pytest.raises(InvalidArgumentError, match=words):
        cnnzoo.benchmark("lenet5", device="cpu", **kwargs)
