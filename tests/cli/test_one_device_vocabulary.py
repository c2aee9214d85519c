"""The devices and precisions a run may name are defined once (cnnzoo.device): a config, the
command line and the resolver agree on them."""

import pytest

from cnnzoo.cli import build_parser
from cnnzoo.device import DEVICE_SPEC, PRECISIONS, resolve_device
from cnnzoo.errors import ConfigError, DeviceError
from cnnzoo.training import TrainConfig


@pytest.mark.parametrize(
    "spec", ["auto", "cpu", "cuda", "cuda:1", "gpu", "cuda:", "CUDA", "cuda:x", " cpu", "mps"], ids=repr
)  # not the id "cuda", which marks a test that needs a GPU
def test_a_config_accepts_the_device_names_the_resolver_knows(spec):
    known = DEVICE_SPEC.match(spec) is not None
    if known:
        assert TrainConfig(device=spec).device == spec
    else:
        with pytest.raises(ConfigError, match="device must be auto, cpu, cuda or cuda:N"):
            TrainConfig(device=spec)
        with pytest.raises(DeviceError, match="unknown device"):
            resolve_device(spec)
    assert known is (spec in ("auto", "cpu", "cuda", "cuda:1"))


def test_the_command_line_offers_the_resolvers_precisions():
    parser = build_parser()
    for p in PRECISIONS:
        assert parser.parse_args(["eval", "--checkpoint", "c.pt", "--precision", p]).precision == p
        assert TrainConfig(precision=p).precision == p
    # a measurement names its precision: every one but auto
    for p in PRECISIONS:
        args = ["benchmark", "--precision", p]
        if p == "auto":
            with pytest.raises(SystemExit):
                parser.parse_args(args)
        else:
            assert parser.parse_args(args).precision == p
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, fp16"):
        TrainConfig(precision="fp64")
