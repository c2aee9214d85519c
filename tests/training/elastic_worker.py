"""``cnnzoo train`` as a torchrun worker, with a fault at a chosen step (for the real-process tests).

``python elastic_worker.py KILL_RANK:STEP:SIGNAL -- <cnnzoo train arguments>``: the worker of
rank KILL_RANK sends itself SIGNAL (KILL or TERM) right after optimiser step STEP, in the first
start of the job only (not after torchrun restarted it); ``-`` for no fault. At exit every
worker prints ``rank R step S exit C``.
"""

import os
import signal
import sys

from cnnzoo.cli import main
from cnnzoo.training import trainer as trainer_module

fault, args = sys.argv[1], sys.argv[3:]
steps_taken = {"step": -1}
step_once = trainer_module.Trainer._optimizer_step


def _optimizer_step(self):
    step_once(self)
    steps_taken["step"] = self.step
    if fault != "-" and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0":
        rank, step, name = fault.split(":")
        if self.dist.rank == int(rank) and self.step == int(step):
            os.kill(os.getpid(), getattr(signal, f"SIG{name}"))


trainer_module.Trainer._optimizer_step = _optimizer_step
code = main(["train", *args])
print(f"rank {os.environ.get('RANK')} step {steps_taken['step']} exit {code}", flush=True)
sys.exit(code)
