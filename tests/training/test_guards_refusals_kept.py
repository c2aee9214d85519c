"""The run guards no outside boundary makes redundant: a loader the API is given (any iterable, not
only cnnzoo's loaders) and a previous run's files that ``--overwrite`` cannot remove."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.errors import DataError, OutputDirError
from cnnzoo.training.distributed import DistInfo
from cnnzoo.training.guards import batches_per_epoch, open_run_directory, refuse_or_clear_previous


def _no_length():
    yield from range(3)


def test_an_epoch_is_the_loaders_length_or_the_limit():
    assert batches_per_epoch(range(10), None) == 10
    assert batches_per_epoch(range(10), 3) == 3
    assert batches_per_epoch(_no_length(), 4) == 4


def test_a_loader_without_a_length_needs_a_limit():
    with pytest.raises(DataError, match=r"has no len\(\); set limit_batches"):
        batches_per_epoch(_no_length(), None)


def test_an_empty_loader_is_refused_before_training():
    with pytest.raises(DataError, match="gives no batches"):
        batches_per_epoch([], None)


def test_a_previous_run_is_kept_without_overwrite(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"x")
    with pytest.raises(OutputDirError, match="holds the results of a previous run \\(best.pt\\)"):
        refuse_or_clear_previous(tmp_path, overwrite=False)
    assert (tmp_path / "best.pt").exists()


def test_overwrite_removes_a_previous_runs_results(tmp_path):
    for name in ("last.pt", "metrics.csv", "curves.png", "step-3.pt"):
        (tmp_path / name).write_bytes(b"x")
    refuse_or_clear_previous(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_overwrite_says_which_file_it_cannot_remove(tmp_path):
    (tmp_path / "last.pt").mkdir()  # unlink(2) refuses a directory, root or not
    with pytest.raises(OutputDirError, match=r"cannot use .*last\.pt: Is a directory"):
        open_run_directory(tmp_path, "m", fresh=True, overwrite=True, dist_info=DistInfo(), device=torch.device("cpu"))


def test_one_process_raises_the_directorys_own_reason(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"x")
    with pytest.raises(OutputDirError, match="holds the results of a previous run"):
        open_run_directory(
            tmp_path / "run", "m", fresh=True, overwrite=False, dist_info=DistInfo(), device=torch.device("cpu")
        )
    run = open_run_directory(
        tmp_path / "run", "m", fresh=False, overwrite=False, dist_info=DistInfo(), device=torch.device("cpu")
    )
    assert run is not None and run.path == tmp_path / "run"
    run.__exit__(None, None, None)
