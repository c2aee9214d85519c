"""An argument that no constructor takes is refused before any weights are looked for: a typo in
``create_model("resnet50", pretrained=True, stem_typ="deep")`` costs no download. Every registered
constructor passes ``**kwargs`` on to its network class, whose parameters are the accepted names."""

import pytest

import cnnzoo
import cnnzoo.factory
from cnnzoo.errors import InvalidArgumentError


def _no_weights(*args, **kwargs):
    raise AssertionError("weights were looked for before the arguments were checked")


@pytest.mark.parametrize("name, typo", [("resnet18", "stem_typ"), ("densenet121", "growthrate"), ("vgg11", "dropout")])
def test_an_unknown_argument_is_refused_before_the_weights(monkeypatch, name, typo):
    monkeypatch.setattr(cnnzoo.factory, "resolve", _no_weights)
    with pytest.raises(
        InvalidArgumentError, match=f"{name} got unknown argument\\(s\\) {typo}; it accepts .*drop_rate"
    ):
        cnnzoo.create_model(name, pretrained=True, **{typo: 1})


def test_the_network_classes_arguments_are_accepted(monkeypatch):
    monkeypatch.setattr(cnnzoo.factory, "resolve", _no_weights)
    # no weights asked for: the build goes ahead with the network class's own argument
    assert cnnzoo.create_model("resnet18", stem_type="deep", num_classes=3).fc.out_features == 3
    assert cnnzoo.create_model("densenet121", proj_drop_rate=0.1, num_classes=2).num_classes == 2
    # a network argument that the registered name fixes is the constructor's to refuse
    with pytest.raises(InvalidArgumentError, match="vgg11: .*multiple values for argument 'batch_norm'"):
        cnnzoo.create_model("vgg11", batch_norm=False)
