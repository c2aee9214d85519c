"""Everything a run needs before its first step: where it runs, the model, the data.

:func:`resolve_runtime` decides the processes, the device and the precision (the
:class:`~cnnzoo.training.trainer.Trainer` of a notebook calls it too); :func:`process_settings`
is the one place that sets the process-wide choices of a run (deterministic or autotuned
kernels, TF32, threads) and restores them after; :func:`prepare_run`
adds the model and the data of a registered model's run, for :func:`cnnzoo.train` and
:func:`cnnzoo.evaluate_checkpoint` alike, so that training and evaluation build the same
things from one config.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

from ..data import DataBundle, build_data, count_classes, default_image_size, default_workers, parse_data_spec
from ..device import Precision, auto_cpu_threads, default_channels_last, resolve_device, resolve_precision
from ..errors import DeviceError
from ..factory import create_model
from ..models.build import split_model_name
from ..models.registry import get_model_entry
from .config import TrainConfig
from .distributed import DistInfo, setup_distributed
from .seeding import seed_everything

__all__ = ["Runtime", "resolve_runtime", "process_settings", "Run", "prepare_run"]


@dataclass(frozen=True)
class Runtime:
    """Where a run executes: its place among the processes, its device and precision."""

    dist: DistInfo
    device: torch.device
    precision: str  #: "fp32", "bf16" or "fp16" (resolved)
    channels_last: bool


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Join the processes torchrun started (if any), then resolve device and precision.

    ``auto`` is CUDA when present, with bf16 (fp16 where the GPU has none) and
    channels-last; on a CPU bf16 and channels-last where the processor computes bf16
    natively, else fp32 (:func:`~cnnzoo.device.resolve_precision`). A device or precision
    the machine lacks is a :class:`~cnnzoo.errors.DeviceError`, and so are ``--sync-bn`` across
    processes and ``--decode gpu`` on CPUs.
    """
    dist = setup_distributed(cfg.device, timeout_s=cfg.dist_timeout)
    device = resolve_device(cfg.device, dist.local_rank)
    # the options that run on a GPU only, refused before a model or data is made: torch's SyncBatchNorm
    # gathers the batch statistics with GPU kernels (DDP refuses it on CPU modules, "SyncBatchNorm layers
    # only work with GPU modules", after the model is built); --decode gpu decodes JPEGs with nvJPEG
    gpu_only = {
        "--sync-bn": (
            cfg.sync_bn and dist.enabled,
            "torch's SyncBatchNorm runs on GPUs only",
            "leave it out (each process then normalises its own batch, as without --sync-bn)",
        ),
        "--decode gpu": (
            cfg.decode == "gpu",
            "it decodes images on the training GPU",
            "use --decode cpu (the loader's workers decode) or --device cuda",
        ),
    }
    for option, (asked, why, instead) in gpu_only.items():
        if asked and device.type != "cuda":
            raise DeviceError(f"{option} needs CUDA ({why}), but this run is on {device}; {instead}")
    precision = resolve_precision(cast(Precision, cfg.precision), device)  # one of TrainConfig's choices
    channels_last = cfg.channels_last if cfg.channels_last is not None else default_channels_last(device, precision)
    return Runtime(dist, device, precision, channels_last)


def _choose_kernels(deterministic: bool, device: torch.device, *, fast: bool | None = None) -> None:
    """Set, for the whole process, deterministic kernels or not and (on a GPU) whether cuDNN
    autotunes and matrix products use TF32 (``fast``, default: not ``deterministic``).
    A run sets them through :func:`process_settings`, which restores them after."""
    if deterministic:
        # cuBLAS reads this when it first allocates its workspace; without it cuBLAS is not
        # deterministic and PyTorch refuses its matrix products (CUDA docs, "Reproducibility")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    if device.type == "cuda":
        fast = not deterministic if fast is None else fast
        torch.backends.cudnn.benchmark = torch.backends.cudnn.allow_tf32 = fast
        torch.backends.cuda.matmul.allow_tf32 = fast


@contextlib.contextmanager
def process_settings(cfg: TrainConfig, runtime: Runtime) -> Iterator[None]:
    """The process-wide settings of a run, restored after: which kernels run and on how many threads.

    The one place where a run chooses between reproducible and fastest kernels. With
    ``cfg.deterministic``: PyTorch's deterministic algorithms (cuDNN's included, so
    ``cudnn.deterministic`` need not be set: PyTorch docs, "Reproducibility"), no cuDNN
    autotuning and no TF32. Otherwise, on a GPU: cuDNN autotunes a kernel per input shape and
    matrix products may use TF32 (both may pick other kernels, with other rounding, run to
    run). On a CPU the run takes ``cfg.threads`` threads, or the cores that are idle; a
    deterministic run keeps PyTorch's fixed default, since results depend on the count.
    """
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    deterministic_before, threads_before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    cuda_before = (cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    try:
        _choose_kernels(cfg.deterministic or deterministic_before, runtime.device, fast=not cfg.deterministic)
        threads = cfg.threads
        if threads is None and runtime.device.type == "cpu" and not cfg.deterministic:
            threads = auto_cpu_threads(runtime.dist.world_size)
        if threads is not None:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
        torch.set_num_threads(threads_before)
        cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = cuda_before


@dataclass
class Run:
    """A registered model's run, ready for the loop: settings, runtime, model and data."""

    config: TrainConfig  #: with the resolved ``input_size`` and ``in_chans`` recorded
    runtime: Runtime
    model: nn.Module
    data: DataBundle


def prepare_run(cfg: TrainConfig, *, checkpoint: dict[str, Any] | None = None, train: bool = True) -> Run:
    """Resolve the runtime, build the model and the data of a run described by ``cfg``.

    With ``checkpoint`` (a run's ``last.pt``/``best.pt`` read by
    :func:`~cnnzoo.training.outputs.load_checkpoint`) the model is built as that run's
    (classes, input channels) and no pretrained weights are loaded: the checkpoint's
    weights follow. ``train=False`` builds only the validation data (``cnnzoo eval``). The data
    fixes the number of classes; the input size defaults to the model's, capped at 32 for the
    small-image datasets.
    """
    info = get_model_entry(split_model_name(cfg.model)[0])
    spec = parse_data_spec(cfg.data)
    runtime = resolve_runtime(cfg)  # refuses fp16 or --decode gpu on a CPU before loading any data
    ckpt = checkpoint or {}
    in_chans = ckpt.get("in_chans") or cfg.in_chans or info.input_size[0]
    if train:
        seed_everything(cfg.seed)
    num_classes = ckpt.get("num_classes") or count_classes(spec, default=info.num_classes or 1000)
    pretrained = False if checkpoint is not None or cfg.pretrained in (None, False) else cfg.pretrained
    model = create_model(
        cfg.model, pretrained=pretrained, num_classes=num_classes, in_chans=in_chans, **(cfg.model_kwargs or {})
    )
    model_cfg = getattr(model, "pretrained_cfg", None) or {}
    min_size = getattr(model, "min_input_size", None) or (in_chans, 1, 1)
    size = cfg.input_size or default_image_size(
        spec.kind,
        model_cfg.get("input_size", info.input_size)[1],
        min_size[1],
        bool(getattr(model, "fixed_input_size", False)),
    )
    cfg = cfg.replace(input_size=size, in_chans=in_chans)  # recorded, so a repeat is exact
    workers = (
        cfg.workers if cfg.workers is not None else default_workers(spec.kind, runtime.device, runtime.dist.world_size)
    )
    data = build_data(
        spec,
        image_size=size,
        in_chans=in_chans,
        batch_size=cfg.batch_size,
        workers=workers,
        device=runtime.device,
        seed=cfg.seed,
        rank=runtime.dist.rank,
        world_size=runtime.dist.world_size,
        deterministic=cfg.deterministic,
        augment=cfg.augment,
        auto_augment=cfg.auto_augment,
        random_erase=cfg.random_erase,
        val_resize=cfg.val_resize,
        val_image_size=cfg.val_input_size,
        num_classes=num_classes,
        train=train,
        bad_images=cfg.bad_images,
        decode=cfg.decode,
    )
    return Run(cfg, runtime, model, data)
