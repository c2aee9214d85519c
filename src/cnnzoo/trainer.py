"""The one training loop: ``Trainer`` for your own model and loaders, ``train`` for a registered one.

Device, precision, several processes, checkpoints and logs are small helpers around a
single loop (``Trainer._train_epoch``), so a laptop CPU run and an 8-GPU ``torchrun`` run
execute the same code. The hot loop never waits for the device: losses and accuracies are
summed as device tensors and read every ``log_every`` steps and at the end of an epoch,
which is also where a NaN/inf loss is caught (before anything is saved).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, DataError, InvalidArgumentError, TrainingDivergedError
from .train_config import TrainConfig, load_config, merge_config, resolve_config, save_config
from .train_io import (RunLock, load_checkpoint, plot_curves, prepare_output_dir, remove_stale_temp_files,
                       save_checkpoint, write_metrics_csv)
from .train_parts import (ModelEma, batch_mix, build_optimizer, build_scheduler, compute_loss, evaluate, layer_units,
                          logits_of)
from .train_runtime import (DistInfo, all_reduce_sum, auto_cpu_threads, autocast, barrier, default_workers,
                            get_rng_state, resolve_device, resolve_precision, seed_everything, set_rng_state,
                            setup_distributed)

__all__ = ["Trainer", "TrainConfig", "TrainResult", "train", "compute_loss", "evaluate", "evaluate_checkpoint",
           "build_optimizer", "layer_units", "load_config"]


def _num_classes(model: nn.Module) -> int | None:
    n = getattr(model, "num_classes", None)
    if isinstance(n, int):
        return n
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    return getattr(head, "out_features", None)


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


# ---------------------------------------------------------------- the trainer
class Trainer:
    """Train ``model`` on ``train_loader``, validating on ``val_loader``, as ``config`` says.

    ``Trainer(model, train_loader, val_loader, TrainConfig(epochs=5)).fit()`` trains a
    notebook's own model and loaders with everything ``cnnzoo train`` has (precision,
    EMA, mixup, DDP under torchrun, checkpoints, resume). Loader batches are
    ``(images, labels)``. The data-related keys of the config (``data``, ``batch_size``
    ...) are the loaders' business and are not used here; ``model_name`` (default: the
    class name, lower case) names the run directory and the checkpoints.
    """

    def __init__(self, model: nn.Module, train_loader: Any, val_loader: Any = None,
                 config: TrainConfig | dict[str, Any] | None = None, *, model_name: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        cfg = config if isinstance(config, TrainConfig) else (
            TrainConfig.from_dict(config) if isinstance(config, dict) else TrainConfig())
        self.model_name = model_name or type(model).__name__.lower()
        self.config = cfg if cfg.model == self.model_name else cfg.replace(model=self.model_name)
        self.dist = setup_distributed(cfg.device)
        self.device = resolve_device(cfg.device, self.dist)
        self.precision = resolve_precision(cfg.precision, self.device)
        self.channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        if self.device.type == "cuda":  # autotuned kernels per input shape, unless reproducibility comes first
            torch.backends.cudnn.benchmark = not cfg.deterministic
        self._log = (log or _print) if (self.dist.is_main and cfg.verbose) else (lambda _msg: None)
        self.train_loader, self.val_loader = train_loader, val_loader
        self.num_classes = _num_classes(model)
        try:
            n_batches = len(train_loader)
        except TypeError:  # an iterable without a length: the epoch is limit_batches long
            if cfg.limit_batches is None:
                raise DataError("the training loader has no len(); set limit_batches (batches per epoch)") from None
            n_batches = cfg.limit_batches
        self.batches_per_epoch = min(n_batches, cfg.limit_batches or sys.maxsize)
        if self.batches_per_epoch == 0:
            raise DataError("the training loader gives no batches (fewer images than one batch?)")
        if cfg.sync_bn and self.dist.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)
        if self.channels_last:  # NHWC: the layout tensor cores and oneDNN convolutions prefer
            self.model.to(memory_format=torch.channels_last)
        self._head = self._freeze_backbone() if cfg.freeze_backbone else None
        net: nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(self.model, device_ids=ids)
        self.net = torch.compile(net) if cfg.compile else net
        self.ddp = net if self.dist.enabled else None
        self.optimizer = build_optimizer(self.model, cfg, self.device)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / cfg.grad_accum)
        self.total_steps = min(cfg.epochs * self.steps_per_epoch, cfg.max_steps or sys.maxsize)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch, self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.ema = ModelEma(self.model, cfg.ema_decay) if cfg.ema else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.mix = batch_mix(cfg, self.num_classes)
        self.epoch = self.step = self.batch_in_epoch = 0  # epochs done, optimiser steps, batches into the next epoch
        self.best_top1: float | None = None
        self.best_epoch = 0
        self.history: list[dict[str, float]] = []
        self.meta: dict[str, Any] = {}  # recorded in checkpoints (classes, input size ...)
        self.output_dir: Path | None = None
        self._partial: list[float] | None = None
        self._stop_signal: int | None = None
        self._stop_agreed = False
        self._resume_state: dict[str, Any] | None = None
        self._epoch_start_step = 0

    # -------------------------------------------------------------- public API
    def fit(self, resume: str | os.PathLike[str] | None = None, *, epochs: int | None = None) -> TrainResult:
        """Train until ``config.epochs`` (at most ``epochs`` more in this call); returns a :class:`TrainResult`.

        ``resume`` continues from a ``last.pt``: weights, optimiser, schedule, EMA, RNG
        states and the position in the data, so the result equals an uninterrupted run.
        """
        cfg, t_start = self.config, time.perf_counter()
        if resume is not None:
            self.load_state(self._resume_state or load_checkpoint(resume, expect_model=self.model_name))
            self._resume_state = None
        self._stop_signal, self._stop_agreed = None, False
        lock = None
        if self.dist.is_main:
            out = self.output_dir or cfg.output or (Path(resume).parent if resume is not None else None)
            self.output_dir = prepare_output_dir(out, self.model_name)
            lock = RunLock(self.output_dir).acquire()
            remove_stale_temp_files(self.output_dir)  # half-written files of a killed run; the lock says none is live
        deterministic_before, threads_before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
        handlers: dict[int, Any] = {}
        images, train_seconds = 0, 0.0
        try:
            handlers = self._install_signal_handlers()
            torch.use_deterministic_algorithms(cfg.deterministic or deterministic_before)
            threads = cfg.threads
            if threads is None and self.device.type == "cpu" and not cfg.deterministic:
                # (a deterministic run keeps PyTorch's fixed default: results depend on the thread count)
                threads = auto_cpu_threads(self.dist.world_size)
            if threads is not None:
                torch.set_num_threads(threads)
            if self.dist.is_main:
                save_config(cfg.replace(output=None), self.output_dir / "config.yaml",
                            header=f"cnnzoo train recipe of {self.output_dir}; repeat with: "
                                   f"cnnzoo train --config {self.output_dir / 'config.yaml'}")
            end = cfg.epochs if epochs is None else min(cfg.epochs, self.epoch + epochs)
            self._log(f"training {self.model_name} for epochs {self.epoch + 1}..{end} of {cfg.epochs} "
                      f"({self.steps_per_epoch} steps each) on {self.device}"
                      + (f" ({_plural(torch.get_num_threads(), 'thread')})" if self.device.type == "cpu" else "")
                      + f", {self.precision}"
                      + (f", {self.dist.world_size} processes" if self.dist.enabled else "")
                      + f" -> {self.output_dir}")
            while self.epoch < end and self.step < self.total_steps:
                stats, complete = self._train_epoch()
                images, train_seconds = images + stats["images"], train_seconds + stats["seconds"]
                if not complete:  # stopped by a signal mid-epoch: save where we are
                    self._save("last.pt", full=True)
                    break
                self._end_epoch(stats)
                # several processes stop together, at the point they agreed on in _read
                if self._stop_agreed or (self._stop_signal is not None and not self.dist.enabled):
                    break
            if self._stop_signal is not None:
                name = signal.Signals(self._stop_signal).name
                self._log(f"stopped by {name}: checkpoint {self._path('last.pt')} "
                          f"(epoch {self.epoch}, step {self.step}); resume with: "
                          f"cnnzoo train --resume {self._path('last.pt')}")
            if self.dist.is_main and self.history and not plot_curves(
                    self.output_dir / "curves.png", self.history, f"{self.model_name} ({cfg.data})"):
                self._log("curves.png not drawn: matplotlib is not installed (pip install 'cnnzoo[plot]')")
        finally:
            torch.use_deterministic_algorithms(deterministic_before)
            torch.set_num_threads(threads_before)
            self._restore_signal_handlers(handlers)
            if lock is not None:
                lock.release()
        seconds = time.perf_counter() - t_start
        result = TrainResult(
            best_top1=self.best_top1, best_epoch=self.best_epoch, epochs=self.epoch, history=list(self.history),
            output_dir=self.output_dir, last_checkpoint=self._path("last.pt"),
            best_checkpoint=self._path("best.pt") if self.best_top1 is not None else None, seconds=seconds,
            images_per_s=images / train_seconds if train_seconds else 0.0,
            interrupted=signal.Signals(self._stop_signal).name if self._stop_signal is not None else None)
        best = f"{self.best_top1:.2f}% (epoch {self.best_epoch})" if self.best_top1 is not None else "n/a"
        self._log(f"best val top-1 {best} | {self.epoch} epochs | {seconds:.1f} s | "
                  f"{result.images_per_s:,.0f} images/s | {self.output_dir}")
        return result

    def evaluate(self, loader: Any = None) -> dict[str, float]:
        """Validation loss/top-1/top-5 of the evaluated weights (the EMA ones with ``ema``)."""
        model = self.ema.module if self.ema is not None else self.model
        return evaluate(model, loader if loader is not None else self.val_loader, device=self.device,
                        precision=self.precision, channels_last=self.channels_last,
                        limit_batches=self.config.limit_batches, dist_info=self.dist)

    # -------------------------------------------------------------- the loop
    def _train_epoch(self) -> tuple[dict[str, float], bool]:
        cfg, dev, e = self.config, self.device, self.epoch
        loader, skip = self.train_loader, self.batch_in_epoch
        self._set_train_mode()
        sampler = getattr(loader, "sampler", None)
        gen = getattr(loader, "generator", None)
        if isinstance(gen, torch.Generator):  # worker seeds depend on (seed, epoch) only
            gen.manual_seed(cfg.seed * 1_000_003 + e)
        if hasattr(sampler, "set_epoch"):
            from .data import EpochSampler

            if isinstance(sampler, EpochSampler):
                sampler.set_epoch(e, start=skip * loader.batch_size)
                skip_in_iter = 0
            else:
                sampler.set_epoch(e)
                skip_in_iter = skip
        else:
            skip_in_iter = skip
        batches = itertools.islice(iter(loader), skip_in_iter, skip_in_iter + self.batches_per_epoch - skip)
        sums = torch.zeros(2, dtype=torch.float64, device=dev)  # loss x images, correct
        images, seconds = 0, 0.0
        if self._partial is not None:
            sums += torch.tensor(self._partial[:2], dtype=torch.float64, device=dev)
            images, seconds = int(self._partial[2]), self._partial[3]
        bad = torch.full((), -1, dtype=torch.long, device=dev)  # first batch with a non-finite loss
        self._epoch_start_step = self.step - (skip // cfg.grad_accum)
        bar = self._progress_bar(e, skip)
        accum, micro, complete = cfg.grad_accum, skip, True
        t0 = time.perf_counter()
        for x, y in batches:
            x = x.to(dev, non_blocking=True)
            x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
            y = y.to(dev, non_blocking=True)
            if self.mix is not None:
                x, y = self.mix(x, y)
            micro += 1
            boundary = micro % accum == 0 or micro == self.batches_per_epoch
            no_sync = self.ddp.no_sync() if self.ddp is not None and not boundary else contextlib.nullcontext()
            with no_sync:
                with autocast(dev, self.precision):
                    out = self.net(x)
                    loss = compute_loss(out, y, self.criterion, cfg.aux_weight)
                scaled = loss / accum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            with torch.no_grad():
                target = y.argmax(1) if y.ndim == 2 else y
                sums += torch.stack([loss.detach().double() * len(y),
                                     (logits_of(out).argmax(1) == target).sum().double()])
                bad = torch.where((bad < 0) & ~torch.isfinite(loss.detach()), bad.new_full((), micro), bad)
            images += len(y)
            self._input_shape = tuple(x.shape[1:])
            if not boundary:
                continue
            self._optimizer_step()
            bar.update(micro - bar.n)
            if self.step % cfg.log_every == 0:
                stop = self._read(sums, bad, images, bar, e)
                if stop:
                    complete = micro == self.batches_per_epoch
                    break
            elif self._stop_signal is not None and not self.dist.enabled:
                complete = micro == self.batches_per_epoch
                break
            if self.step >= self.total_steps:
                break
        seconds += time.perf_counter() - t0
        self._read(sums, bad, images, bar, e)  # every epoch ends with a check: NaN is never saved (and a stop agreed)
        bar.close()
        totals = all_reduce_sum(torch.tensor([float(images)], dtype=torch.float64, device=dev), self.dist)
        n_all = totals.item()
        loss_sum, correct = all_reduce_sum(sums.clone(), self.dist).tolist()
        self.batch_in_epoch = 0 if complete else micro
        self._partial = None if complete else [*sums.tolist(), float(images), seconds]
        n = max(n_all, 1.0)
        return {"train_loss": loss_sum / n, "train_acc": 100 * correct / n, "images": n_all,
                "seconds": seconds, "images_per_s": n_all / seconds if seconds else 0.0}, complete

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

    def _read(self, sums: torch.Tensor, bad: torch.Tensor, images: int, bar: Any, epoch: int) -> bool:
        """The one host-device sync every ``log_every`` steps: check the loss, update the bar.

        Returns whether to stop (a signal; with several processes agreed by all-reduce).
        """
        flag = float(self._stop_signal is not None)
        local = torch.cat([sums, bad.double().view(1)])
        if self.dist.enabled:
            state = all_reduce_sum(torch.cat([local, sums.new_tensor([float(images), flag])]), self.dist)
            loss_sum, _, _, n, flag = state.tolist()
            first_bad = int(local[2].item())
            if flag and self._stop_signal is None:  # another process was signalled (torchrun signals all)
                self._stop_signal = signal.SIGTERM
        else:
            loss_sum, _, first_bad_f = local.tolist()
            n, first_bad = images, int(first_bad_f)
        if not math.isfinite(loss_sum) or first_bad >= 0:
            where = (f"batch {first_bad} of epoch {epoch + 1} (optimiser step "
                     f"{self._epoch_start_step + math.ceil(first_bad / self.config.grad_accum)})"
                     if first_bad >= 0 else f"epoch {epoch + 1} (on another process)")
            last = self._path("last.pt")
            kept = f"the last good checkpoint {last} is kept" if last is not None and last.exists() else \
                "no checkpoint was saved yet"
            raise TrainingDivergedError(f"the loss became NaN or infinite at {where}; {kept}. "
                                        "Lower --lr, or add --warmup-epochs or --clip-grad")
        if n:
            bar.set_postfix(loss=f"{loss_sum / n:.4f}", refresh=False)
        self._stop_agreed = flag > 0
        return self._stop_agreed

    def _end_epoch(self, stats: dict[str, float]) -> None:
        cfg = self.config
        val = self.evaluate() if self.val_loader is not None else {
            "val_loss": math.nan, "val_top1": math.nan, "val_top5": math.nan}
        self.epoch += 1
        lr = max(g["lr"] for g in self.optimizer.param_groups)
        row = {"epoch": self.epoch, "train_loss": stats["train_loss"], "train_acc": stats["train_acc"],
               "val_loss": val["val_loss"], "val_top1": val["val_top1"], "val_top5": val["val_top5"],
               "lr": lr, "images_per_s": stats["images_per_s"], "seconds": stats["seconds"]}
        self.history.append(row)
        improved = math.isfinite(row["val_top1"]) and (self.best_top1 is None or row["val_top1"] > self.best_top1)
        if improved:
            self.best_top1, self.best_epoch = row["val_top1"], self.epoch
        if self.dist.is_main:
            write_metrics_csv(self.output_dir / "metrics.csv", self.history)
            self._save("last.pt", full=True)
            if improved:
                self._save("best.pt", full=False)
        barrier(self.dist)
        self._log(f"epoch {self.epoch}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2f}%  "
                  f"val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.2f}% top-5 {row['val_top5']:.2f}%  "
                  f"lr {lr:.3g}  {row['images_per_s']:,.0f} img/s  {row['seconds']:.1f} s")

    # -------------------------------------------------------------- state
    def state_dict(self, full: bool = True) -> dict[str, Any]:
        """A checkpoint: weights, names and config; with ``full`` everything needed to resume."""
        evaluated = self.ema.module if (self.ema is not None and not full) else self.model
        state: dict[str, Any] = {
            "model": evaluated.state_dict(), "model_name": self.model_name, "config": self.config.to_dict(),
            "epoch": self.epoch, "step": self.step, "num_classes": self.num_classes,
            "input_size": list(getattr(self, "_input_shape", ())), "best_top1": self.best_top1,
            "best_epoch": self.best_epoch, "history": list(self.history), **self.meta,
        }
        if full:
            state.update(
                optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                scaler=self.scaler.state_dict() if self.scaler is not None else None,
                ema=self.ema.state_dict() if self.ema is not None else None, rng=get_rng_state(),
                batch_in_epoch=self.batch_in_epoch, partial=self._partial)
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore a full checkpoint of :meth:`state_dict` (``last.pt``)."""
        if state.get("model_name") != self.model_name:
            raise CheckpointError(f"the checkpoint is of model '{state.get('model_name')}', not '{self.model_name}'")
        if "optimizer" not in state:
            raise CheckpointError("this checkpoint holds weights only (best.pt); resume from last.pt")
        try:
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
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"the checkpoint does not fit this run ({str(e).splitlines()[0]}); "
                                  "resume with the same model, classes and optimiser settings") from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batch_in_epoch, self._partial = int(state.get("batch_in_epoch", 0)), state.get("partial")
        self.best_top1, self.best_epoch = state.get("best_top1"), int(state.get("best_epoch", 0))
        self.history = [dict(r) for r in state.get("history", [])]
        set_rng_state(state["rng"])

    def _save(self, name: str, full: bool) -> None:
        if self.dist.is_main and self.output_dir is not None:
            save_checkpoint(self.state_dict(full=full), self.output_dir / name)

    def _path(self, name: str) -> Path | None:
        return self.output_dir / name if self.output_dir is not None else None

    # -------------------------------------------------------------- helpers
    def _freeze_backbone(self) -> nn.Module:
        get = getattr(self.model, "get_classifier", None)
        if get is None:
            raise InvalidArgumentError("freeze_backbone needs a model with get_classifier() (every cnnzoo model)")
        head = get()
        head_params = list(head.parameters())
        if not head_params:
            raise InvalidArgumentError("freeze_backbone: the classifier has no parameters (num_classes=0?)")
        self.model.requires_grad_(False)
        for p in head_params:
            p.requires_grad_(True)
        return head

    def _set_train_mode(self) -> None:
        self.net.train()
        if self._head is not None:
            # a frozen backbone keeps its BN statistics: in train mode BN would re-estimate
            # them from the new data although its affine weights no longer adapt
            head = set(self._head.modules())
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and m not in head:
                    m.eval()

    def _progress_bar(self, epoch: int, done: int) -> Any:
        from tqdm.auto import tqdm

        quiet = not (self.dist.is_main and self.config.verbose and sys.stderr.isatty())
        return tqdm(total=self.batches_per_epoch, initial=done, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                    unit="batch", leave=False, dynamic_ncols=True, disable=quiet)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self._stop_signal = signum

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return old

    @staticmethod
    def _restore_signal_handlers(old: dict[int, Any]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- registered models
def _default_num_classes(constructor: Callable[..., Any]) -> int:
    default = inspect.signature(constructor).parameters.get("num_classes")
    return default.default if default is not None and isinstance(default.default, int) else 1000


def train(model: str | None = None, *, config: str | os.PathLike[str] | TrainConfig | dict[str, Any] | None = None,
          resume: str | os.PathLike[str] | None = None, **overrides: Any) -> TrainResult:
    """Train a registered model: ``cnnzoo.train(model="lenet5", epochs=3)`` is ``cnnzoo train``.

    Settings come from the :class:`TrainConfig` defaults, then the checkpoint being
    resumed, then ``config`` (a YAML path, dict or TrainConfig), then keyword arguments.
    The data (``data=``, default the built-in digits) fixes the number of classes; the
    input size defaults to the model's, capped at 32 for the small-image datasets.
    Returns a :class:`TrainResult`; ``result.output_dir`` holds ``config.yaml``,
    ``metrics.csv``, ``last.pt``, ``best.pt`` and ``curves.png``.
    """
    from .data import build_data, count_classes, default_image_size, parse_data_spec
    from .factory import create_model, split_model_name
    from .registry import get_model_entry

    state = load_checkpoint(resume) if resume is not None else None
    if model is not None:
        overrides["model"] = model
    cfg = resolve_config(config, state["config"] if state is not None else None, overrides)
    if state is not None and state["model_name"] != cfg.model:
        raise CheckpointError(f"checkpoint {resume} is of model '{state['model_name']}', but this run trains "
                              f"'{cfg.model}'; use --model {state['model_name']} or another checkpoint")
    info = get_model_entry(split_model_name(cfg.model)[0])
    spec = parse_data_spec(cfg.data)
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    dist_info = setup_distributed(cfg.device)
    try:
        device = resolve_device(cfg.device, dist_info)
        resolve_precision(cfg.precision, device)  # refuse fp16 on a CPU before loading any data
        in_chans = cfg.in_chans or info.input_size[0]
        size = cfg.input_size or default_image_size(spec.kind, info.input_size[1], info.min_input_size[1],
                                                    info.fixed_input_size)
        cfg = cfg.replace(input_size=size, in_chans=in_chans)  # recorded, so a repeat is exact
        seed_everything(cfg.seed, cfg.deterministic, device)
        num_classes = count_classes(spec, default=_default_num_classes(info.constructor))
        pretrained = False if state is not None or cfg.pretrained in (None, False) else cfg.pretrained
        net = create_model(cfg.model, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans,
                           **(cfg.model_kwargs or {}))
        workers = cfg.workers if cfg.workers is not None else default_workers(spec.kind, device, dist_info.world_size)
        bundle = build_data(spec, image_size=size, in_chans=in_chans, batch_size=cfg.batch_size, workers=workers,
                            device=device, seed=cfg.seed, rank=dist_info.rank, world_size=dist_info.world_size,
                            deterministic=cfg.deterministic, augment=cfg.augment, auto_augment=cfg.auto_augment,
                            random_erase=cfg.random_erase, val_resize=cfg.val_resize,
                            val_image_size=cfg.val_input_size, num_classes=num_classes,
                            bad_images=cfg.bad_images)
        if bundle.skipped and cfg.verbose and dist_info.is_main:
            _print(f"skipped {_plural(len(bundle.skipped), 'unreadable image')} (first: {bundle.skipped[0]})")
        trainer = Trainer(net, bundle.train_loader, bundle.val_loader, cfg, model_name=cfg.model)
        trainer.meta = {"classes": bundle.classes, "in_chans": in_chans, "data": cfg.data}
        trainer._resume_state = state
        return trainer.fit(resume=resume)
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        if dist_info.initialized_here:
            import torch.distributed as dist

            dist.destroy_process_group()


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], model: str | None = None, *, data: str | None = None,
                        device: str = "auto", precision: str = "auto", batch_size: int | None = None,
                        workers: int | None = None, limit_batches: int | None = None) -> dict[str, Any]:
    """Validation loss, top-1 and top-5 (%) of a cnnzoo checkpoint (``best.pt``/``last.pt``).

    The data and preprocessing are the run's (from the checkpoint's config) unless
    ``data`` names others with the same classes.
    """
    from .data import build_data, count_classes, default_image_size, parse_data_spec
    from .factory import create_model, split_model_name
    from .registry import get_model_entry

    state = load_checkpoint(checkpoint, expect_model=model)
    cfg = merge_config(None, {**state["config"], "output": None}, source=f"{checkpoint} config")
    name = state["model_name"]
    info = get_model_entry(split_model_name(name)[0])
    spec = parse_data_spec(data or cfg.data)
    dev = resolve_device(device, DistInfo())
    prec = resolve_precision(precision, dev)
    in_chans = state.get("in_chans") or cfg.in_chans or info.input_size[0]
    size = cfg.input_size or default_image_size(spec.kind, info.input_size[1], info.min_input_size[1],
                                                info.fixed_input_size)
    num_classes = state.get("num_classes") or count_classes(spec)
    if spec.kind != "synthetic" and count_classes(spec) != num_classes:
        raise DataError(f"{checkpoint} classifies {num_classes} classes but --data {data or cfg.data} has "
                        f"{count_classes(spec)}")
    net = create_model(name, num_classes=num_classes, in_chans=in_chans, **(cfg.model_kwargs or {}))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{checkpoint} does not fit {name}: {str(e).splitlines()[0]}") from None
    bundle = build_data(spec, image_size=size, in_chans=in_chans, batch_size=batch_size or cfg.batch_size,
                        workers=workers if workers is not None else default_workers(spec.kind, dev, 1), device=dev,
                        seed=cfg.seed, val_resize=cfg.val_resize, val_image_size=cfg.val_input_size,
                        num_classes=num_classes, train=False)
    metrics = evaluate(net.to(dev), bundle.val_loader, device=dev, precision=prec, limit_batches=limit_batches)
    return {**metrics, "model": name, "data": data or cfg.data, "checkpoint": str(checkpoint),
            "epoch": state.get("epoch")}


def _print(message: str) -> None:
    print(message, flush=True)  # a line at a time also when piped (tee, a log file, a notebook)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
