"""The one training loop: ``Trainer``, for a registered model (:func:`cnnzoo.train`) or your own.

Device, precision, several processes, checkpoints and logs are small helpers around a
single loop (``Trainer._train_epoch``), so a laptop CPU run and an 8-GPU ``torchrun`` run
execute the same code. The hot loop never waits for the device: losses and accuracies are
summed as device tensors and read every ``log_every`` steps and at the end of an epoch,
which is also where a NaN/inf loss is caught (before anything is saved).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ..data.feed import device_transform, feed, reads_ahead
from ..data.sampling import epoch_batches
from ..device import autocast, describe_precision, synchronize
from ..errors import CheckpointError, TrainingDivergedError
from ..models.base import googlenet_loss
from ..models.deterministic import use_deterministic_layers
from ..weights.checkpoint import Checkpoint, WeightsCheckpoint, check_joins, run_record
from .config import TrainConfig
from .distributed import all_reduce_sum, barrier, elastic_run_id, gather_objects
from .guards import (
    batch_of_one,
    batches_per_epoch,
    diverged_message,
    loading_into_run,
    nan_validation_message,
    nonfinite_tensors,
    open_run_directory,
    pairs,
)
from .monitor import Reading, StepMonitor
from .outputs import (
    RunDirectory,
    load_checkpoint,
    plural,
    progress_bar,
    prune_step_checkpoints,
    say,
    step_checkpoint_name,
)
from .parts import (
    EpochTotals,
    ModelEma,
    batch_mix,
    build_optimizer,
    build_scheduler,
    evaluate,
    freeze_layers,
    freeze_part,
    set_train_mode,
)
from .seeding import get_rng_state, set_rng_state
from .setup import Runtime, process_settings, resolve_runtime
from .signals import StopSignals
from .tblog import TensorBoardLog, require_tensorboard

__all__ = ["Trainer", "TrainResult", "StepHook", "EpochHook"]

#: called after every optimiser step with the trainer (``trainer.step`` is the step just taken)
StepHook = Callable[["Trainer"], None]
#: called after every epoch with the trainer and the epoch's row of ``metrics.csv``
EpochHook = Callable[["Trainer", dict[str, float]], None]


@dataclass
class TrainResult:
    """What a run produced: best top-1 (%), the per-epoch history and where the files are."""

    best_top1: float | None
    best_epoch: int
    epochs: int
    history: list[dict[str, float]]
    output_dir: Path | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    seconds: float
    images_per_s: float
    interrupted: str | None = None  # "SIGTERM"/"SIGINT" when stopped by a signal


def _num_classes(model: nn.Module) -> int | None:
    n = getattr(model, "num_classes", None)
    if isinstance(n, int):
        return n
    get = getattr(model, "get_classifier", None)
    out = getattr(get() if callable(get) else None, "out_features", None)
    return out if isinstance(out, int) else None


class Trainer:
    """Train ``model`` on ``train_loader``, validating on ``val_loader``, as ``config`` says.

    ``Trainer(model, train_loader, val_loader, TrainConfig(epochs=5)).fit()`` trains a
    notebook's own model and loaders with everything ``cnnzoo train`` has (precision,
    EMA, mixup, DDP under torchrun, checkpoints, resume). Loader batches are
    ``(images, labels)``: float model inputs, or what the loader's ``device_transform``
    turns into them on the device (the uint8 batches of :func:`~cnnzoo.data.build_data`,
    normalised there; see :mod:`cnnzoo.data.feed`). The data-related keys of the config (``data``, ``batch_size``
    ...) are the loaders' business and are not used here; ``model_name`` (default: the
    class name, lower case) names the run directory and the checkpoints. ``on_step`` is
    called after every optimiser step and ``on_epoch`` after every epoch (logging,
    early stopping by a signal, tests); ``runtime`` is a resolved
    :class:`~cnnzoo.training.setup.Runtime` (default: resolved from the config).

    ``resume`` continues from a run's ``last.pt`` (its path, or the state
    :func:`~cnnzoo.training.outputs.load_checkpoint` read from it): weights, optimiser,
    schedule, EMA, RNG states and the position in the data are restored here, so that
    :meth:`fit` ends with the weights of an uninterrupted run. The run directory is
    ``output_dir``, else ``config.output``, else (resuming from a path) the checkpoint's
    directory, else a new ``runs/<model>-<time>``. ``meta`` is recorded in every checkpoint: the fields of
    :class:`~cnnzoo.weights.checkpoint.RunRecord` (``cnnzoo.train`` puts the class names and the
    evaluation preprocessing there, for ``cnnzoo predict``).
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: Any,
        val_loader: Any = None,
        config: TrainConfig | dict[str, Any] | None = None,
        *,
        model_name: str | None = None,
        log: Callable[[str], None] | None = None,
        runtime: Runtime | None = None,
        on_step: StepHook | None = None,
        on_epoch: EpochHook | None = None,
        resume: str | os.PathLike[str] | dict[str, Any] | None = None,
        output_dir: str | os.PathLike[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        cfg = (
            config
            if isinstance(config, TrainConfig)
            else (TrainConfig.from_dict(config) if isinstance(config, dict) else TrainConfig())
        )
        self.model_name = model_name or type(model).__name__.lower()
        self.config = cfg = cfg if cfg.model == self.model_name else cfg.replace(model=self.model_name)
        self.runtime = runtime or resolve_runtime(cfg)
        self.dist, self.device, self.precision = self.runtime.dist, self.runtime.device, self.runtime.precision
        self.channels_last = self.runtime.channels_last
        self._log = (log or say) if (self.dist.is_main and cfg.verbose) else (lambda _msg: None)
        self.on_step, self.on_epoch = on_step, on_epoch
        self.train_loader, self.val_loader = train_loader, val_loader
        self.num_classes = _num_classes(model)
        self.batches_per_epoch = batches_per_epoch(train_loader, cfg.limit_batches)
        # images per batch per process: the loader's (a notebook's loader need not follow config.batch_size)
        self.loader_batch = int(getattr(train_loader, "batch_size", None) or cfg.batch_size)
        if cfg.log == "tensorboard":  # in every process: one without it would leave the others waiting
            require_tensorboard()
        self.model, self.net, self.ddp, self._frozen = self._place(model)
        self.optimizer = build_optimizer(self.model, cfg, self.device)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / cfg.grad_accum)
        self.total_steps = min(cfg.epochs * self.steps_per_epoch, cfg.max_steps or sys.maxsize)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch, self.total_steps)
        # fp16 gradients underflow without loss scaling (Micikevicius et al. 2018, Sec. 3.2); bf16 has fp32's range
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None
        self.ema = ModelEma(self.model, cfg.ema_decay) if cfg.ema else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.mix = batch_mix(cfg, self.num_classes)
        self.epoch = self.step = self.batch_in_epoch = 0  # epochs done, optimiser steps, batches into the next epoch
        self.best_top1: float | None = None
        self.best_epoch = 0
        self.history: list[dict[str, float]] = []
        self.meta: dict[str, Any] = run_record(meta)  # recorded in checkpoints (classes, preprocessing ...)
        self.output_dir: Path | None = Path(output_dir) if output_dir is not None else None
        self.input_shape: tuple[int, ...] = ()
        self._partial: list[float] | None = None
        self._signals = StopSignals((signal.SIGUSR1,) if cfg.sigusr1 else ())
        self._monitor = StepMonitor(self._signals, self.dist, cfg.save_every_minutes)
        self._consumed = 0  # an epoch begun by another number of processes: samples they saw together
        self._dir: RunDirectory | None = None
        self._epoch_start_step = 0
        self._loaded = False  # a checkpoint was loaded: its run directory is this run's own
        self._tb: TensorBoardLog | None = None
        if resume is not None:
            self._resume_from(resume)

    def _resume_from(self, checkpoint: str | os.PathLike[str] | dict[str, Any]) -> None:
        # a dict is read already (cnnzoo.train reads the run's settings from it first)
        self.load_state(checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint))
        if self.output_dir is None:
            if self.config.output:
                self.output_dir = Path(self.config.output)
            elif not isinstance(checkpoint, dict):
                self.output_dir = Path(checkpoint).parent

    def _place(self, model: nn.Module) -> tuple[nn.Module, nn.Module, Any, list[nn.Module] | None]:
        """(model on the device, what runs it: DDP and/or compiled, the DDP wrapper, the frozen modules)."""
        cfg = self.config
        if cfg.sync_bn and self.dist.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if cfg.deterministic and self.device.type == "cuda":
            # adaptive pools and LRN have no deterministic CUDA backward: same functions, other kernels
            use_deterministic_layers(model)
        model = model.to(self.device)
        if self.channels_last:  # NHWC: the layout tensor cores and oneDNN convolutions prefer
            model.to(memory_format=torch.channels_last)
        part = freeze_part(cfg)
        frozen = freeze_layers(model, part) if part is not None else None
        net: nn.Module = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(model, device_ids=ids)
        ddp = net if self.dist.enabled else None
        # torch.compile of a module is a module (OptimizedModule), which its annotation does not say
        return model, cast(nn.Module, torch.compile(net)) if cfg.compile else net, ddp, frozen

    # -------------------------------------------------------------- public API
    def fit(self, resume: str | os.PathLike[str] | None = None, *, epochs: int | None = None) -> TrainResult:
        """Train until ``config.epochs`` (at most ``epochs`` more in this call); returns a :class:`TrainResult`.

        ``resume`` is deprecated (kept for one release): give it to the constructor,
        ``Trainer(..., resume=path)``, which restores the same state.
        """
        cfg, t_start = self.config, time.perf_counter()
        if resume is not None:
            warnings.warn(
                "Trainer.fit(resume=...) is deprecated and will be removed in the next release; "
                "use Trainer(..., resume=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            self._resume_from(resume)
        self._monitor.stop = False
        # a new run, not the continuation of this trainer's or a checkpoint's: it may not replace another's results
        fresh = not self._loaded and not self.history and self.step == 0
        self._dir = open_run_directory(
            self.output_dir or cfg.output,
            self.model_name,
            fresh=fresh,
            overwrite=cfg.overwrite,
            dist_info=self.dist,
            device=self.device,
        )
        self.output_dir = self._dir.path if self._dir is not None else None
        images, train_seconds = 0.0, 0.0
        with contextlib.ExitStack() as stack:
            if self._dir is not None:
                stack.push(self._dir)  # entered (locked) by _open_directory: released last
            stack.enter_context(self._signals)
            stack.enter_context(process_settings(cfg, self.runtime))
            if self._dir is not None:
                self._dir.write_recipe(cfg)
                if cfg.log == "tensorboard":
                    self._tb = TensorBoardLog(self._dir.path, self.step)
                    stack.callback(self._tb.close)
            end = cfg.epochs if epochs is None else min(cfg.epochs, self.epoch + epochs)
            self._log_start(end)
            while self.epoch < end and self.step < self.total_steps:
                stats, complete = self._train_epoch()
                images, train_seconds = images + stats["images"], train_seconds + stats["seconds"]
                if not complete:  # stopped by a signal mid-epoch: save where we are
                    self._check_weights(None)
                    self._save("last.pt", full=True)
                    break
                self._end_epoch(stats)
                # several processes stop together, at the point they agreed on in _read
                if self._monitor.stop or (self._signals.received is not None and not self.dist.enabled):
                    break
            self._finish()
        return self._result(time.perf_counter() - t_start, images / train_seconds if train_seconds else 0.0)

    def evaluate(self, loader: Any = None) -> dict[str, float]:
        """Validation loss/top-1/top-5 of the evaluated weights (the EMA ones with ``ema``)."""
        model = self.ema.module if self.ema is not None else self.model
        return evaluate(
            model,
            loader if loader is not None else self.val_loader,
            device=self.device,
            precision=self.precision,
            channels_last=self.channels_last,
            limit_batches=self.config.limit_batches,
            dist_info=self.dist,
        )

    # -------------------------------------------------------------- around the loop
    def _log_start(self, end: int) -> None:
        threads = f" ({plural(torch.get_num_threads(), 'thread')})" if self.device.type == "cpu" else ""
        procs = f", {self.dist.world_size} processes" if self.dist.enabled else ""
        precision = describe_precision(self.device, self.config.precision, self.precision, self.channels_last)
        self._log(
            f"training {self.model_name} for epochs {self.epoch + 1}..{end} of {self.config.epochs} "
            f"({self.steps_per_epoch} steps each) on {self.device}{threads}, {precision}{procs} "
            f"-> {self.output_dir}"
        )

    def _finish(self) -> None:
        if self._signals.name is not None:
            last = self._path("last.pt")
            self._log(
                f"stopped by {self._signals.name}: checkpoint {last} (epoch {self.epoch}, step "
                f"{self.step}); resume with: cnnzoo train --resume {last}"
            )
        if (
            self._dir is not None
            and self.history
            and not self._dir.draw_curves(self.history, f"{self.model_name} ({self.config.data})")
        ):
            self._log("curves.png not drawn: matplotlib is not installed (pip install 'cnnzoo[plot]')")

    def _result(self, seconds: float, images_per_s: float) -> TrainResult:
        result = TrainResult(
            best_top1=self.best_top1,
            best_epoch=self.best_epoch,
            epochs=self.epoch,
            history=list(self.history),
            output_dir=self.output_dir,
            last_checkpoint=self._path("last.pt"),
            best_checkpoint=self._path("best.pt") if self.best_top1 is not None else None,
            seconds=seconds,
            images_per_s=images_per_s,
            interrupted=self._signals.name,
        )
        best = f"{self.best_top1:.2f}% (epoch {self.best_epoch})" if self.best_top1 is not None else "n/a"
        self._log(
            f"best val top-1 {best} | {self.epoch} epochs | {seconds:.1f} s | "
            f"{result.images_per_s:,.0f} images/s | {self.output_dir}"
        )
        return result

    # -------------------------------------------------------------- the loop
    def _train_epoch(self) -> tuple[dict[str, float], bool]:
        cfg, skip = self.config, self.batch_in_epoch
        set_train_mode(self.net, self.model, self._frozen)
        batches, skip = self._batches(skip)
        totals = EpochTotals(self.device, self._partial, self.criterion)
        if self._tb is not None:
            self._tb.begin_epoch(self._partial, self.step)
        self._epoch_start_step = self.step - (skip // cfg.grad_accum)
        bar = progress_bar(
            self.batches_per_epoch, skip, f"epoch {self.epoch + 1}/{cfg.epochs}", self.dist.is_main and cfg.verbose
        )
        micro, complete = skip, True
        t0 = time.perf_counter()
        for x, y in batches:
            micro += 1
            boundary = micro % cfg.grad_accum == 0 or micro == self.batches_per_epoch
            self._forward_backward(x, y, micro, boundary, totals)
            if not boundary:
                continue
            self._optimizer_step()
            bar.update(micro - bar.n)
            if self._stop_asked(totals, bar):
                complete = micro == self.batches_per_epoch
                break
            if self.step >= self.total_steps:
                break
            if micro < self.batches_per_epoch and self._save_due():  # an epoch's end saves last.pt anyway
                self._save_mid_epoch(totals, micro)
        synchronize(self.device)  # the clock stops when the device has finished the epoch's work
        totals.seconds += time.perf_counter() - t0
        self._read(totals, bar)  # every epoch ends with a check: NaN is never saved (and a stop agreed)
        bar.close()
        self.batch_in_epoch = 0 if complete else micro
        self._partial = None if complete else self._epoch_so_far(totals)
        return self._epoch_stats(totals), complete

    def _batches(self, skip: int) -> tuple[Any, int]:
        """The epoch's batches on the device after the ``skip`` ones done already (and that number)."""
        cfg, e = self.config, self.epoch
        if self._consumed:  # begun by another number of processes: the rest of its order is dealt out anew
            source = epoch_batches(self.train_loader, e, cfg.seed, consumed=self._consumed)
            skip = self.batch_in_epoch = max(0, self.batches_per_epoch - len(self.train_loader))
            self._consumed = 0
            # the steps so far were of the other world size: the run ends after this epoch's rest (and the epochs
            # after it), not at a count of this world size's steps, which would leave the rest's last batches out
            offset = self.step - skip // cfg.grad_accum - e * self.steps_per_epoch
            self.total_steps = min(cfg.epochs * self.steps_per_epoch + offset, cfg.max_steps or sys.maxsize)
        else:
            source = epoch_batches(self.train_loader, e, cfg.seed, skip)
        batches = feed(
            pairs(itertools.islice(source, self.batches_per_epoch - skip), "training"),
            self.device,
            device_transform(self.train_loader),
            channels_last=self.channels_last,
            ahead=reads_ahead(self.train_loader, self.device),
        )
        return batches, skip

    def _epoch_stats(self, totals: EpochTotals) -> dict[str, float]:
        """The epoch's training loss, accuracy and speed, over all processes."""
        n_all = all_reduce_sum(
            torch.tensor([float(totals.images)], dtype=torch.float64, device=self.device), self.dist
        ).item()
        loss_sum, correct = all_reduce_sum(totals.sums.clone(), self.dist).tolist()
        n = max(n_all, 1.0)
        return {
            "train_loss": loss_sum / n,
            "train_acc": 100 * correct / n,
            "images": n_all,
            "seconds": totals.seconds,
            "images_per_s": n_all / totals.seconds if totals.seconds else 0.0,
            **totals.head_losses(self.dist),
        }

    def _forward_backward(
        self, x: torch.Tensor, y: torch.Tensor, micro: int, boundary: bool, totals: EpochTotals
    ) -> None:
        if self.mix is not None:
            x, y = self.mix(x, y)
        # gradients of the accumulated micro-batches are all-reduced once, at the boundary
        no_sync = self.ddp.no_sync() if self.ddp is not None and not boundary else contextlib.nullcontext()
        with no_sync:
            with autocast(self.device, self.precision), batch_of_one(micro, self.epoch + 1):
                out = self.net(x)
                loss = googlenet_loss(out, y, self.criterion, self.config.aux_weight)
            scaled = loss / self.config.grad_accum
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        totals.add(loss, out, y, micro)
        self.input_shape = tuple(x.shape[1:])

    def _optimizer_step(self) -> None:
        cfg = self.config
        if self.scaler is not None:
            if cfg.clip_grad:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if cfg.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        if self.ema is not None and self.step % cfg.ema_every == 0:
            self.ema.update(self.model)
        if self.on_step is not None:
            self.on_step(self)

    def _stop_asked(self, totals: EpochTotals, bar: Any) -> bool:
        """Every ``log_every`` steps the read (where the processes agree); between reads a lone process's signal."""
        if self.step % self.config.log_every == 0:
            return self._read(totals, bar)
        return self._signals.received is not None and not self.dist.enabled

    def _read(self, totals: EpochTotals, bar: Any) -> bool:
        """Read the epoch so far: a NaN/inf loss stops the run here, before anything is saved; returns
        whether to stop (a signal, agreed by all processes)."""
        reading = self._monitor.read(totals)
        if reading.diverged:
            raise TrainingDivergedError(
                diverged_message(
                    self.epoch, reading.first_bad, self._epoch_start_step, self.config.grad_accum, self._path("last.pt")
                )
            )
        self._show(reading, bar)
        return reading.stop

    def _show(self, reading: Reading, bar: Any) -> None:
        """The running loss on the progress bar and, at the logged steps, in TensorBoard."""
        if reading.images:
            bar.set_postfix(loss=f"{reading.loss_sum / reading.images:.4f}", refresh=False)
        if self._tb is not None and self.step % self.config.log_every == 0:
            lr = max(g["lr"] for g in self.optimizer.param_groups)
            self._tb.steps(self.step, reading.loss_sum, reading.correct, reading.images, lr)

    def _end_epoch(self, stats: dict[str, float]) -> None:
        cfg = self.config
        val = (
            self.evaluate()
            if self.val_loader is not None
            else {"val_loss": math.nan, "val_top1": math.nan, "val_top5": math.nan}
        )
        # a divergence that shows first in validation (the last steps' weights): never saved, never the best
        self._check_weights(val["val_loss"] if self.val_loader is not None else None)
        self.epoch += 1
        lr = max(g["lr"] for g in self.optimizer.param_groups)
        row = {
            "epoch": self.epoch,
            "train_loss": stats["train_loss"],
            "train_acc": stats["train_acc"],
            "val_loss": val["val_loss"],
            "val_top1": val["val_top1"],
            "val_top5": val["val_top5"],
            "lr": lr,
            "images_per_s": stats["images_per_s"],
            "seconds": stats["seconds"],
            **{k: v for k, v in stats.items() if k.startswith("train_loss_")},
        }  # GoogLeNet's heads apart
        self.history.append(row)
        improved = math.isfinite(row["val_top1"]) and (self.best_top1 is None or row["val_top1"] > self.best_top1)
        if improved:
            self.best_top1, self.best_epoch = row["val_top1"], self.epoch
        self._save("last.pt", full=True)  # in every process: it gathers their RNG states
        if self._dir is not None:
            if improved:
                self._save("best.pt", full=False)
            self._dir.write_metrics(self.history)  # after last.pt: the metrics never run ahead of it
        if self._tb is not None:
            self._tb.epoch(row, self.step)
        barrier(self.dist)
        self._log(
            f"epoch {self.epoch}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}%  "
            f"val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.2f}% top-5 {row['val_top5']:.2f}%  "
            f"lr {lr:.3g}  {row['images_per_s']:,.0f} img/s  {row['seconds']:.1f} s"
        )
        if self.on_epoch is not None:
            self.on_epoch(self, row)

    # -------------------------------------------------------------- state
    def state_dict(self, full: bool = True) -> dict[str, Any]:
        """A checkpoint: weights, names and config; with ``full`` everything needed to resume.

        Built through :class:`~cnnzoo.training.checkpoint.Checkpoint`, the description its reader
        checks a file against."""
        evaluated = self.ema.module if (self.ema is not None and not full) else self.model
        saved: dict[str, Any] = dict(
            model=evaluated.state_dict(),
            model_name=self.model_name,
            config=self.config.to_dict(),
            epoch=self.epoch,
            step=self.step,
            num_classes=self.num_classes,
            input_size=list(self.input_shape),
            best_top1=self.best_top1,
            best_epoch=self.best_epoch,
            history=list(self.history),
            **self.meta,
        )
        if not full:
            return WeightsCheckpoint(**saved).to_dict()
        return Checkpoint(
            **saved,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler is not None else None,
            ema=self.ema.state_dict() if self.ema is not None else None,
            rng=get_rng_state(),
            batch_in_epoch=self.batch_in_epoch,
            partial=self._partial,
            world_size=self.dist.world_size,
            loader_batch=self.loader_batch,
            elastic_run_id=elastic_run_id(),
        ).to_dict()

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a full checkpoint of :meth:`state_dict` (``last.pt``)."""
        check_joins(state, None, model=self.model_name)
        if "optimizer" not in state:
            raise CheckpointError("this checkpoint holds weights only (best.pt); resume from last.pt")
        with loading_into_run("the checkpoint"):
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            if self.ema is not None:
                if state.get("ema") is not None:
                    self.ema.load_state_dict(state["ema"])
                else:
                    self.ema.module.load_state_dict(state["model"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batch_in_epoch = int(state.get("batch_in_epoch", 0))
        # the epoch's sums so far are of all processes together: one process carries them on
        self._partial = state.get("partial") if self.dist.is_main else None
        self.best_top1, self.best_epoch = state.get("best_top1"), int(state.get("best_epoch", 0))
        self.history = [dict(r) for r in state.get("history", [])]
        ranks = state.get("rng_ranks") or [state["rng"]]
        # each process its own RNG states; one the saved run did not have takes rank 0's
        set_rng_state(ranks[self.dist.rank] if self.dist.rank < len(ranks) else ranks[0])
        self._changed_world(state)
        self._loaded = True

    def _changed_world(self, state: dict[str, Any]) -> None:
        """A checkpoint of another number of processes: re-split the epoch it stopped in, and say what changes."""
        saved, now = int(state.get("world_size", 1)), self.dist.world_size
        if saved == now:
            return
        saved_batch = int(state.get("loader_batch", self.loader_batch))
        if self.batch_in_epoch:
            self._consumed = self.batch_in_epoch * saved_batch * saved
        accum = self.config.grad_accum
        rest = (
            f"; the rest of epoch {self.epoch + 1} (after {self._consumed:,} samples) is dealt out to {now} "
            "processes, none repeated or skipped"
            if self._consumed
            else ""
        )
        self._log(
            f"world size {saved} -> {now}: global batch {saved_batch * saved * accum} -> "
            f"{self.loader_batch * now * accum} ({self.loader_batch} per process), learning rate "
            f"{self.config.lr:g} kept (not rescaled), {self.steps_per_epoch} steps per epoch from here{rest}"
        )

    def _check_weights(self, val_loss: float | None) -> None:
        """Raise :class:`TrainingDivergedError` before a save of NaN/inf weights (the model's or the
        EMA's) or after a NaN/inf validation loss. In every process: their weights are the same."""
        bad = nonfinite_tensors(self.model, self.ema.module if self.ema is not None else None)
        if bad or (val_loss is not None and not math.isfinite(val_loss)):
            raise TrainingDivergedError(nan_validation_message(self.epoch + 1, val_loss, bad, self._path("last.pt")))

    def _save(self, name: str, full: bool) -> None:
        """Write checkpoint ``name`` in rank 0. A full one (resumable) holds every process's RNG
        states, gathered here, so every process calls it: the gather is where they agree."""
        ranks = gather_objects(get_rng_state(), self.dist) if full else []
        if self._dir is not None:
            state = self.state_dict(full=full)
            if len(ranks) > 1:
                state["rng_ranks"] = ranks
            self._dir.save(name, state)

    def _save_due(self) -> bool:
        every = self.config.save_every
        return bool(every and self.step % every == 0) or self._monitor.save

    def _save_mid_epoch(self, totals: EpochTotals, micro: int) -> None:
        """step-N.pt: everything a resume needs from here, ``micro`` batches into the epoch (every process calls it)."""
        self._check_weights(None)
        kept = self.batch_in_epoch, self._partial
        self.batch_in_epoch, self._partial = micro, self._epoch_so_far(totals)
        try:
            self._save(step_checkpoint_name(self.step), full=True)
        finally:
            self.batch_in_epoch, self._partial = kept
        if self._dir is not None:
            prune_step_checkpoints(self._dir.path, self.config.keep_last)
        self._monitor.saved()

    def _epoch_so_far(self, totals: EpochTotals) -> list[float]:
        """The unfinished epoch's sums of all processes together (the clock is this process's)."""
        mine = totals.partial()
        summed = all_reduce_sum(torch.tensor(mine, dtype=torch.float64, device=self.device), self.dist).tolist()
        seconds = EpochTotals.PARTIAL_FIELDS.index("seconds")
        summed[seconds] = mine[seconds]
        return summed

    def _path(self, name: str) -> Path | None:
        return self.output_dir / name if self.output_dir is not None else None
