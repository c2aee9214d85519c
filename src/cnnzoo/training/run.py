"""``cnnzoo train`` and ``cnnzoo eval`` for registered models: settings, then the one loop.

:func:`train` resolves a run's settings (defaults < resumed checkpoint < recipe < arguments),
prepares the model and the data (:func:`~cnnzoo.training.setup.prepare_run`) and hands them
to :class:`~cnnzoo.training.trainer.Trainer`; :func:`evaluate_checkpoint` prepares a run's
checkpoint the same way and evaluates it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..data.loaders import describe_data
from ..data.stats import eval_preprocessing
from ..errors import ConfigError
from ..limits import check_count
from ..weights.checkpoint import check_joins
from .config import TrainConfig, merge_config, resolve_config
from .distributed import check_same_settings, continuation, elastic_run_id, restart_count
from .guards import loading_into_run
from .outputs import load_checkpoint, newest_checkpoint, plural, say
from .parts import evaluate, freeze_part, what_is_trained
from .setup import prepare_run, process_settings
from .trainer import EpochHook, StepHook, Trainer, TrainResult

__all__ = ["train", "evaluate_checkpoint"]


def train(
    model: str | None = None,
    *,
    config: str | os.PathLike[str] | TrainConfig | dict[str, Any] | None = None,
    resume: str | os.PathLike[str] | None = None,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a registered model: ``cnnzoo.train(model="lenet5", epochs=3)`` is ``cnnzoo train``.

    Settings come from the :class:`TrainConfig` defaults, then the checkpoint being
    resumed, then ``config`` (a YAML path, dict or TrainConfig), then keyword arguments.
    The data (``data=``, default the built-in digits) fixes the number of classes; the
    input size defaults to the model's, capped at 32 for the small-image datasets.
    ``on_step``/``on_epoch`` are the :class:`Trainer`'s hooks. Returns a
    :class:`TrainResult`; ``result.output_dir`` holds ``config.yaml``, ``metrics.csv``,
    ``last.pt``, ``best.pt`` and ``curves.png``.
    """
    if model is not None:
        overrides["model"] = model
    resume, state = _resume_point(config, resume, overrides)
    cfg = resolve_config(config, state["config"] if state is not None else None, overrides)
    if state is not None:
        check_joins(state, resume, model=cfg.model)  # before any data is read
    run = None
    output = cfg.output or (Path(resume).parent if resume is not None else None)
    try:
        run = prepare_run(cfg, checkpoint=state)
        # before the first collective that assumes equal shapes (DDP's broadcast of the weights); first, so
        # that every rank then judges the checkpoint below alike (the same classes, the same step)
        if run.runtime.dist.enabled:
            check_same_settings(_shared_settings(run, output, state), run.runtime.dist)
        if state is not None:  # a run resumed on other data must not train on
            check_joins(state, resume, classes=run.data.classes, num_classes=run.data.num_classes)
        # data left out is said even with --quiet, on stderr (repr keeps a path on one line)
        if run.data.skipped and run.runtime.dist.is_main:
            print(
                f"cnnzoo: warning: skipped {plural(len(run.data.skipped), 'unreadable image')} "
                f"(first: {str(run.data.skipped[0])!r}); they are left out of this run",
                file=sys.stderr,
                flush=True,
            )
        # a resumed run continues in its own directory; meta is what predict needs to use the
        # checkpoint as the run did (class names and preprocessing)
        trainer = Trainer(
            run.model,
            run.data.train_loader,
            run.data.val_loader,
            run.config,
            model_name=cfg.model,
            runtime=run.runtime,
            on_step=on_step,
            on_epoch=on_epoch,
            resume=state,
            output_dir=output,
            meta={
                "classes": run.data.classes,
                "in_chans": run.config.in_chans,
                "data": cfg.data,
                "preprocessing": _preprocessing(run.config),
            },
        )
        if run.runtime.dist.is_main:  # after the Trainer, which refuses a --freeze that names no layer
            _say_what_starts(cfg, run, resumed=state is not None)
        if (freeze_part(cfg) or cfg.layer_decay is not None) and cfg.verbose and run.runtime.dist.is_main:
            for line in what_is_trained(trainer.model, trainer.optimizer):
                say(line)
        return trainer.fit()
    finally:
        if run is not None and run.runtime.dist.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


#: what each node may choose for itself: where and how fast it runs, not what is trained (of the data, the
#: classes and the number of images found are compared, not the path, which may differ between machines)
_NODE_LOCAL = frozenset(
    {"data", "output", "device", "workers", "threads", "decode", "channels_last", "compile", "dist_timeout"}
    | {"log_every", "log", "verbose", "overwrite"}
)


def _shared_settings(run: Any, output: str | os.PathLike[str] | None, state: dict[str, Any] | None) -> dict[str, Any]:
    """What every process of a run must agree on: its settings, its data and the checkpoint it continues from."""
    settings: dict[str, Any] = {
        f"--{key.replace('_', '-')}": value for key, value in run.config.to_dict().items() if key not in _NODE_LOCAL
    }
    try:
        images = len(run.data.train_loader.dataset)
    except (AttributeError, TypeError):  # synthetic batches, a stream without a length: the settings say them
        images = None
    return {
        **settings,
        # rank 0 writes the run: another directory elsewhere would hide its checkpoints from a restart there
        "--output": str(output) if output is not None else None,
        "classes": run.data.classes,
        "training images": images,
        "continuing from step": int(state["step"]) if state is not None else None,
    }


def _resume_point(
    config: Any, resume: str | os.PathLike[str] | None, overrides: dict[str, Any]
) -> tuple[str | os.PathLike[str] | None, dict[str, Any] | None]:
    """The checkpoint a run continues from, and its state: ``resume``; or, when torchrun started new workers
    of the same job (a worker died, a node left or joined: :func:`continuation`), the newest complete
    checkpoint of the run, if newer."""
    state = load_checkpoint(resume) if resume is not None else None
    restarts, run_id = restart_count(), elastic_run_id()
    if not restarts and run_id is None:  # no torchrun job that could have written the directory before
        return resume, state
    cfg = resolve_config(config, state["config"] if state is not None else None, overrides)
    directory = cfg.output or (Path(resume).parent if resume is not None else None)
    found = newest_checkpoint(directory) if directory is not None else None
    if found is None or (state is not None and int(found[1]["step"]) <= int(state["step"])):
        return resume, state
    path, newest = found
    why = continuation(restarts, run_id, newest.get("elastic_run_id"))
    if why is None:
        return resume, state
    if os.environ.get("RANK", "0") == "0":
        into = (
            f", {newest['batch_in_epoch']} batches into epoch {newest['epoch'] + 1}"
            if newest.get("batch_in_epoch")
            else ""
        )
        print(f"cnnzoo: {why}: continuing from {path} (step {newest['step']}{into})", file=sys.stderr, flush=True)
    return path, newest


def _say_what_starts(cfg: TrainConfig, run: Any, *, resumed: bool) -> None:
    """Before the first step: frozen random weights (a warning, even with --quiet), the data, the weights loaded."""
    part = freeze_part(cfg)
    if part is not None and cfg.pretrained in (None, False) and not resumed:
        flag = "--freeze-backbone" if cfg.freeze_backbone else f"--freeze {part}"
        print(
            f"cnnzoo: warning: {flag} without --pretrained freezes randomly initialised weights: the frozen "
            "layers will never learn; add --pretrained (the default tag, a tag or a weights file)",
            file=sys.stderr,
            flush=True,
        )
    if not cfg.verbose:
        return
    say(describe_data(run.data))
    report = (getattr(run.model, "pretrained_cfg", None) or {}).get("load_report")
    if cfg.pretrained not in (None, False) and not resumed and report:
        say(f"pretrained: {report}")


def _preprocessing(cfg: TrainConfig) -> dict[str, Any]:
    size = cfg.val_input_size or cfg.input_size
    assert size is not None and cfg.in_chans is not None  # prepare_run records both
    return eval_preprocessing(cfg.data, size, cfg.in_chans, cfg.val_resize)


def evaluate_checkpoint(
    checkpoint: str | os.PathLike[str],
    model: str | None = None,
    *,
    data: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    limit_batches: int | None = None,
) -> dict[str, Any]:
    """Validation loss, top-1 and top-5 (%) of a cnnzoo checkpoint (``best.pt``/``last.pt``).

    The data and preprocessing are the run's (from the checkpoint's config) unless
    ``data`` names others with the same classes: an image folder with ``val/``, or a folder of
    class folders (no ``train/`` needed).
    """
    if limit_batches is not None:
        check_count("limit_batches", limit_batches, ConfigError)
    state = load_checkpoint(checkpoint, expect_model=model)
    given = {"data": data, "batch_size": batch_size, "workers": workers}
    cfg = merge_config(
        None,
        {
            **state["config"],
            "output": None,
            "device": device,
            "precision": precision,
            **{k: v for k, v in given.items() if v is not None},
        },
        source=f"{checkpoint} config",
    )
    run = prepare_run(cfg, checkpoint=state, train=False)
    # the same number of classes under other names (or in another order) would score the wrong outputs
    check_joins(state, checkpoint, classes=run.data.classes, num_classes=run.data.num_classes)
    with loading_into_run(checkpoint):
        run.model.load_state_dict(state["model"])
    net = run.model.to(run.runtime.device)
    if run.runtime.channels_last:
        net.to(memory_format=torch.channels_last)
    with process_settings(run.config, run.runtime):  # the kernels and threads of the run's own validation
        metrics = evaluate(
            net,
            run.data.val_loader,
            device=run.runtime.device,
            precision=run.runtime.precision,
            channels_last=run.runtime.channels_last,
            limit_batches=limit_batches,
        )
    return {
        **metrics,
        "model": state["model_name"],
        "data": cfg.data,
        "checkpoint": str(checkpoint),
        "epoch": state.get("epoch"),
    }
