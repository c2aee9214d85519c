"""Which start continues its run directory: the one decision (:func:`continuation`) and the run that follows it.

torchrun counts a restart when workers failed, not when a node joined or the job was started anew
under the same ``--rdzv-id``; the job id that every resumable checkpoint records tells those apart
from a run of another job, whose results a fresh start must not take over or replace.
"""

import pytest

import cnnzoo
from cnnzoo.errors import OutputDirError
from cnnzoo.training.distributed import continuation, elastic_run_id
from cnnzoo.training.outputs import load_checkpoint

MET_AGAIN = "torchrun job 'job-a' met again (a node joined, or the job was started anew)"


@pytest.mark.parametrize(
    ("restarts", "run_id", "saved_run_id", "why"),
    [
        (0, None, None, None),  # outside torchrun, or torchrun's default id: a start of its own
        (0, "job-a", None, None),  # a directory written outside torchrun
        (0, "job-a", "job-b", None),  # another job's results
        (0, None, "job-a", None),
        (0, "job-a", "job-a", MET_AGAIN),  # a node joined: no restart counted
        (2, None, None, "torchrun restart 2"),  # torchrun restarted failed workers of this job
        (1, "job-a", "job-b", "torchrun restart 1"),
    ],
)
def test_continuation_is_a_restart_or_the_same_job_met_again(restarts, run_id, saved_run_id, why):
    assert continuation(restarts, run_id, saved_run_id) == why


@pytest.mark.parametrize(("env", "run_id"), [(None, None), ("", None), ("none", None), ("job-a", "job-a")])
def test_the_job_id_is_torchruns_unless_it_is_the_default(monkeypatch, env, run_id):
    if env is None:
        monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    else:
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", env)
    assert elastic_run_id() == run_id


def _train(output, epochs):
    return cnnzoo.train(
        model="lenet5",
        output=str(output),
        epochs=epochs,
        limit_batches=1,
        batch_size=8,
        threads=1,
        workers=0,
        device="cpu",
        verbose=False,
    )


@pytest.mark.slow  # three short trainings in this process (about 6 s on two busy cores)
def test_a_new_round_of_the_same_job_continues_and_another_job_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-a")
    out = tmp_path / "run"
    _train(out, epochs=1)
    assert load_checkpoint(out / "last.pt")["elastic_run_id"] == "job-a"
    for other in ("job-b", "none"):  # another job, or no job named: the directory holds another run's results
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", other)
        with pytest.raises(OutputDirError, match="holds the results of a previous run"):
            _train(out, epochs=2)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-a")
    capsys.readouterr()
    result = _train(out, epochs=2)
    assert capsys.readouterr().err == f"cnnzoo: {MET_AGAIN}: continuing from {out / 'last.pt'} (step 1)\n"
    assert result.epochs == 2 and load_checkpoint(out / "last.pt")["step"] == 2
