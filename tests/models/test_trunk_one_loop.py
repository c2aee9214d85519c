"""The trunk is one loop for every family (ZooModel.run_layers): stages and their outputs, early
stops and pruning come out the same in eager mode, TorchScript and torch.fx, also for the
networks without a ``features`` stack (ResNet v1/v2, GoogLeNet) that used to spell it out."""

import pytest
import torch
from helpers import randomise

import cnnzoo

CASES = [("resnet18v2", {}), ("resnet20", {}), ("se_resnet18", {}), ("googlenet", {"variant": "paper"})]


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] + str(c[1]) for c in CASES])
def test_stages_script_and_trace_as_in_eager_mode(name, kw):
    model = randomise(cnnzoo.create_model(name, num_classes=4, **kw)).eval()
    x = torch.randn(1, model.in_chans, 96, 96)
    backbone = cnnzoo.create_model(name, features_only=True, out_indices=(0, 2), **kw).eval()
    backbone.model.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        assert len(maps) == len(model.feature_info)
        torch.testing.assert_close(final, maps[-1])
        for got, info in zip(maps, model.feature_info):
            assert got.shape[1] == info["num_chs"] and 96 // got.shape[-1] == info["reduction"]
        early = model.forward_intermediates(x, indices=[2], stop_early=True)[0]
        torch.testing.assert_close(early, maps[2])
        for run in (torch.jit.script(backbone), torch.fx.symbolic_trace(backbone)):
            out = run(x)
            torch.testing.assert_close(out[0], maps[0])
            torch.testing.assert_close(out[1], maps[2])


@pytest.mark.parametrize("name,kw", CASES, ids=[c[0] + str(c[1]) for c in CASES])
def test_pruned_trunk_ends_at_the_kept_stage(name, kw):
    model = randomise(cnnzoo.create_model(name, num_classes=4, **kw)).eval()
    x = torch.randn(1, model.in_chans, 96, 96)
    with torch.no_grad():
        maps = model.forward_intermediates(x, intermediates_only=True)
        n_params = sum(p.numel() for p in model.parameters())
        model.prune_intermediate_layers(indices=[0, 1])
        torch.testing.assert_close(model(x), maps[1])
        torch.testing.assert_close(torch.jit.script(model)(x), maps[1])
    assert sum(p.numel() for p in model.parameters()) < n_params / 2  # the later stages are gone
    assert len(model.feature_info) == 2 and model.feature_ends == sorted(model.feature_ends)
