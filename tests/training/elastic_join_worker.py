"""``cnnzoo train`` as a worker of an elastic torchrun job that a node joins (for the real-process tests).

``python elastic_join_worker.py STEP LIMIT -- <cnnzoo train arguments>``: a worker alone in its round
(``WORLD_SIZE`` 1) holds after optimiser step STEP until torchrun's agent stops it (SIGTERM, sent when
another node asks to join), at most LIMIT seconds, so that the join always finds the job at that step.
Every worker prints ``rank R world W stopped at T`` when the stop arrives, ``rank R world W first step S at
T`` after its round's first step (T: ``time.time()``) and ``rank R step S exit C`` at exit.
"""

import os
import sys
import time

from cnnzoo.cli import main
from cnnzoo.training import trainer as trainer_module

hold_at, limit, args = int(sys.argv[1]), float(sys.argv[2]), sys.argv[4:]
rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
steps_taken = {"step": -1}
step_once = trainer_module.Trainer._optimizer_step


def _optimizer_step(self):
    step_once(self)
    if steps_taken["step"] < 0:
        print(f"rank {rank} world {world} first step {self.step} at {time.time():.3f}", flush=True)
    steps_taken["step"] = self.step
    if world == "1" and self.step == hold_at:
        deadline = time.monotonic() + limit
        while self._signals.received is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the SIGTERM handler runs in this thread between the sleeps
        print(f"rank {rank} world {world} stopped at {time.time():.3f}", flush=True)


trainer_module.Trainer._optimizer_step = _optimizer_step
code = main(["train", *args])
print(f"rank {rank} step {steps_taken['step']} exit {code}", flush=True)
sys.exit(code)
