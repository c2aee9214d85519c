"""A checkpoint that does not fit the run it is loaded into (an evaluation, a resume): torch's refusal
to load one of its states is one CheckpointError naming the checkpoint, whichever state did not fit."""

import pytest
import torch

import cnnzoo
from cnnzoo.errors import CheckpointError
from cnnzoo.training.outputs import load_checkpoint, save_checkpoint

RUN = dict(model="lenet5", data="digits", batch_size=16, limit_batches=1, threads=1, workers=0, verbose=False)


@pytest.fixture(scope="module")
def last(tmp_path_factory):
    return cnnzoo.train(epochs=1, device="cpu", output=str(tmp_path_factory.mktemp("run")), **RUN).last_checkpoint


def _edited(last, path, edit):
    state = load_checkpoint(last)
    edit(state)
    save_checkpoint(state, path)
    return path


def test_weights_of_other_shapes_are_refused_by_eval_and_resume(last, tmp_path):
    def reshape(state):
        key = next(k for k in state["model"] if k.endswith("weight"))
        state["model"][key] = torch.zeros(1)

    edited = _edited(last, tmp_path / "edited.pt", reshape)
    with pytest.raises(CheckpointError, match=r"edited\.pt does not fit this run \(Error\(s\) in loading state_dict"):
        cnnzoo.evaluate_checkpoint(edited, limit_batches=1, workers=0)
    with pytest.raises(CheckpointError, match=r"^the checkpoint does not fit this run \(Error\(s\) in loading"):
        cnnzoo.train(epochs=2, resume=str(edited), output=str(tmp_path / "again"), **RUN)


def test_an_optimiser_state_of_other_parameter_groups_is_refused_by_resume(last, tmp_path):
    def one_more_group(state):
        groups = state["optimizer"]["param_groups"]
        groups.append(dict(groups[0], params=[]))

    edited = _edited(last, tmp_path / "groups.pt", one_more_group)
    with pytest.raises(CheckpointError, match=r"does not fit this run \(.*parameter groups.*\); use it with the model"):
        cnnzoo.train(epochs=2, resume=str(edited), output=str(tmp_path / "again"), **RUN)
    assert not (tmp_path / "again" / "last.pt").exists()  # refused before any step
