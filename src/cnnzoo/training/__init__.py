"""Training: one loop for every model, from a laptop CPU to several GPUs under ``torchrun``.

* :mod:`~cnnzoo.training.config` -- :class:`TrainConfig`, every setting of a run, and its YAML;
* :mod:`~cnnzoo.training.trainer` -- :class:`Trainer`, the one loop;
* :mod:`~cnnzoo.training.parts` -- loss, evaluation, optimiser, schedule, mixup, EMA;
* :mod:`~cnnzoo.training.distributed` -- processes under ``torchrun`` and reductions;
* :mod:`~cnnzoo.training.seeding` -- seeds and RNG states;
* :mod:`~cnnzoo.training.signals` -- Ctrl-C and SIGTERM: save, then stop;
* :mod:`~cnnzoo.training.outputs` -- the run directory, checkpoints, metrics, curves;
* :mod:`~cnnzoo.training.setup` -- runtime (processes, device, precision), model and data of a run;
* :mod:`~cnnzoo.training.run` -- :func:`train` and :func:`evaluate_checkpoint` for registered models.

(The package is ``training`` because ``cnnzoo.train`` is the function.)
"""

from .config import TrainConfig, load_config, merge_config, resolve_config, save_config
from .outputs import load_checkpoint, save_checkpoint
from .parts import build_optimizer, build_scheduler, compute_loss, evaluate, layer_units
from .run import evaluate_checkpoint, train
from .setup import Run, Runtime, prepare_run, resolve_runtime
from .trainer import EpochHook, StepHook, Trainer, TrainResult

__all__ = [
    "TrainConfig",
    "load_config",
    "merge_config",
    "resolve_config",
    "save_config",
    "load_checkpoint",
    "save_checkpoint",
    "build_optimizer",
    "build_scheduler",
    "compute_loss",
    "evaluate",
    "layer_units",
    "evaluate_checkpoint",
    "train",
    "Run",
    "Runtime",
    "prepare_run",
    "resolve_runtime",
    "EpochHook",
    "StepHook",
    "Trainer",
    "TrainResult",
]
