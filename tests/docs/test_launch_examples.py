"""The launch examples (examples/: torchrun on two machines, SLURM, a Kubernetes PyTorchJob) are valid
and are what docs/training.md shows."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cnnzoo.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = ["torchrun_two_machines.sh", "slurm_two_nodes.sbatch"]


def _cnnzoo_args(words: list[str]) -> list[str]:
    return words[words.index("cnnzoo") + 1 :]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", SCRIPTS)
def test_the_scripts_are_valid_bash(name):
    done = subprocess.run(["bash", "-n", str(EXAMPLES / name)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_scripts_launch_cnnzoo_train_through_torchrun_with_options_that_exist(name):
    lines = [ln for ln in (EXAMPLES / name).read_text().splitlines() if "-m cnnzoo" in ln]
    assert lines
    for line in lines:
        args = _cnnzoo_args(shlex.split(line, comments=True))
        parsed = build_parser().parse_args(args)  # exits (SystemExit) on an option that does not exist
        assert parsed.command == "train"
    launcher = (EXAMPLES / name).read_text()
    assert "torchrun" in launcher and "--rdzv-backend c10d" in launcher and "--max-restarts" in launcher


def test_the_slurm_script_asks_for_two_nodes_and_the_preemption_signal():
    text = (EXAMPLES / "slurm_two_nodes.sbatch").read_text()
    directives = dict(
        ln[len("#SBATCH --") :].split("=", 1) for ln in text.splitlines() if ln.startswith("#SBATCH --") and "=" in ln
    )
    assert directives["nodes"] == "2" and directives["ntasks-per-node"] == "1"
    assert directives["signal"].startswith("TERM@")
    assert "srun torchrun" in text and "requeue" in text


def test_the_pytorchjob_manifest_is_a_kubeflow_pytorchjob_that_runs_cnnzoo():
    job = yaml.safe_load((EXAMPLES / "pytorchjob.yaml").read_text())
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "PyTorchJob"
    assert job["metadata"]["name"]
    elastic = job["spec"]["elasticPolicy"]
    assert elastic["rdzvBackend"] == "c10d" and 1 <= elastic["minReplicas"] <= elastic["maxReplicas"]
    worker = job["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] <= elastic["maxReplicas"]
    pod = worker["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30  # time for rank 0 to save after SIGTERM
    (container,) = pod["containers"]
    command = container["command"]
    assert command[0] == "torchrun" and build_parser().parse_args(_cnnzoo_args(command)).command == "train"
    output = command[command.index("--output") + 1]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(output.startswith(m + "/") for m in mounts)  # the run directory is on a shared volume


@pytest.mark.parametrize("name", [*SCRIPTS, "pytorchjob.yaml"])
def test_docs_show_the_example_as_it_is(name):
    assert (EXAMPLES / name).read_text() in (ROOT / "docs" / "training.md").read_text()
