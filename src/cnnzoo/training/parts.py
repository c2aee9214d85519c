"""The parts of a training step: the loss, evaluation, the optimiser, the schedule, mixup.

Used by the loop in :mod:`cnnzoo.training.trainer` and usable alone (``evaluate`` a model on a
loader; ``build_optimizer`` with layer-wise learning rates for your own loop).
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.feed import device_transform, feed, reads_ahead
from ..device import autocast
from ..errors import ConfigError, DataError, InvalidArgumentError
from ..models.base import classifier_names, googlenet_loss, logits_of
from ..weights.checkpoint import PARTIAL_FIELDS
from .config import TrainConfig
from .distributed import DistInfo, all_reduce_sum
from .guards import pairs

__all__ = [
    "compute_loss",
    "logits_of",
    "evaluate",
    "EpochTotals",
    "layer_units",
    "build_optimizer",
    "build_scheduler",
    "batch_mix",
    "ModelEma",
    "FREEZE_PARTS",
    "freeze_layers",
    "freeze_part",
    "set_train_mode",
    "frozen_and_trained",
    "what_is_trained",
]

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def compute_loss(
    output: Any, target: torch.Tensor, criterion: Callable[..., torch.Tensor] | None = None, aux_weight: float = 0.3
) -> torch.Tensor:
    """Deprecated: use :func:`cnnzoo.googlenet_loss`, the same loss under its documented name.

    Kept for one release so that code written against ``cnnzoo.compute_loss`` keeps running;
    it warns (``DeprecationWarning``) and returns ``googlenet_loss(output, target, criterion,
    aux_weight)``.
    """
    warnings.warn(
        "cnnzoo.compute_loss is deprecated and will be removed in the next release; use "
        "cnnzoo.googlenet_loss (the same loss)",
        DeprecationWarning,
        stacklevel=2,
    )
    return googlenet_loss(output, target, criterion, aux_weight)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Any,
    *,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
    limit_batches: int | None = None,
    dist_info: DistInfo | None = None,
) -> dict[str, float]:
    """Mean cross-entropy, top-1 and top-5 (%) of ``model`` over ``loader`` (main head only).

    Batches become inputs on the device as in training (the loader's ``device_transform``).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top-1, top-5, images
    batches = feed(
        pairs(itertools.islice(loader, limit_batches), "validation"),
        device,
        device_transform(loader),
        channels_last=channels_last,
        ahead=reads_ahead(loader, device),
    )
    for x, y in batches:
        with autocast(device, precision):
            logits = logits_of(model(x)).float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices == y[:, None]
        sums[:3] += torch.stack(
            [F.cross_entropy(logits, y, reduction="sum").double(), top[:, 0].sum().double(), top.any(1).sum().double()]
        )
        sums[3] += len(y)
    loss, top1, top5, n = all_reduce_sum(sums, dist_info or DistInfo()).tolist()
    if n == 0:
        raise DataError("the validation loader gave no images")
    return {"val_loss": loss / n, "val_top1": 100 * top1 / n, "val_top5": 100 * top5 / n, "images": n}


class EpochTotals:
    """An epoch's training loss and accuracy, summed on the device so no step waits for it.

    ``add`` keeps ``loss x images`` and the correct predictions as device tensors, and the
    1-based index of the first batch whose loss is not finite; ``read`` is the one
    host-device synchronisation. ``partial`` resumes an epoch that was interrupted. For an
    output with auxiliary logits (GoogLeNet's, Szegedy et al. 2014, Sec. 5) the loss of each
    head is summed too (``head_sums``, with ``criterion``), so that the main loss and the
    auxiliary ones can be logged apart (:meth:`head_losses`).
    """

    def __init__(
        self,
        device: torch.device,
        partial: list[float] | None = None,
        criterion: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        self.sums = torch.zeros(2, dtype=torch.float64, device=device)  # loss x images, correct
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.images, self.seconds = 0, 0.0
        self.criterion = criterion or F.cross_entropy
        self.head_sums: torch.Tensor | None = None  # loss x images of the main head, then each auxiliary one
        if partial is not None:
            n = len(self.PARTIAL_FIELDS)
            self.sums += torch.tensor(partial[:2], dtype=torch.float64, device=device)
            self.images, self.seconds = int(partial[2]), float(partial[3])
            if len(partial) > n:
                self.head_sums = torch.tensor(partial[n:], dtype=torch.float64, device=device)

    @torch.no_grad()
    def add(self, loss: torch.Tensor, output: Any, target: torch.Tensor, batch: int) -> None:
        labels = target.argmax(1) if target.ndim == 2 else target  # mixup/cutmix targets are probabilities
        self.sums += torch.stack(
            [loss.detach().double() * len(target), (logits_of(output).argmax(1) == labels).sum().double()]
        )
        bad = ~torch.isfinite(loss.detach())
        self.first_bad = torch.where((self.first_bad < 0) & bad, self.first_bad.new_full((), batch), self.first_bad)
        self.images += len(target)
        aux = [a for a in getattr(output, "aux_logits", ()) or () if a is not None]
        if aux:
            heads = torch.stack(
                [self.criterion(h.detach().float(), target).double() * len(target) for h in (logits_of(output), *aux)]
            )
            self.head_sums = heads if self.head_sums is None else self.head_sums + heads

    def head_losses(self, dist_info: DistInfo | None = None) -> dict[str, float]:
        """The epoch's mean loss of each head: ``train_loss_main``, ``train_loss_aux1`` ... ({} without
        auxiliary heads); all-reduced over the processes with ``dist_info``."""
        if self.head_sums is None:
            return {}
        per_head = all_reduce_sum(
            torch.cat([self.head_sums, self.head_sums.new_tensor([float(self.images)])]), dist_info or DistInfo()
        ).tolist()
        n = max(per_head.pop(), 1.0)
        names = ["train_loss_main"] + [f"train_loss_aux{i}" for i in range(1, len(per_head))]
        return {k: v / n for k, v in zip(names, per_head)}

    def partial(self) -> list[float]:
        """What a checkpoint keeps of an unfinished epoch (plain floats): the numbers of
        :data:`PARTIAL_FIELDS`, then one loss sum per head for a model with auxiliary outputs."""
        heads = self.head_sums.tolist() if self.head_sums is not None else []
        return [*self.sums.tolist(), float(self.images), self.seconds, *heads]

    #: the leading numbers of :meth:`partial`, which ``__init__`` reads back in this order
    PARTIAL_FIELDS = PARTIAL_FIELDS


# ---------------------------------------------------------------- optimiser and schedule
def layer_units(model: nn.Module) -> list[str]:
    """The model's units from input to output, for layer-wise learning rates.

    Each top-level child with parameters is a unit; a ``Sequential``/``ModuleList``
    child (``layer1``, ``features``) is split into its elements (ResNet blocks, VGG
    convolutions). The last unit is the head.
    """
    units: list[str] = []
    for name, child in model.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) > 1:
            units += [f"{name}.{n}" for n, c in child.named_children() if any(True for _ in c.parameters())]
        elif any(True for _ in child.parameters()):
            units.append(name)
    return units


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """SGD or AdamW over the trainable parameters, grouped by depth and weight decay.

    With ``layer_decay`` F the unit k steps below the head gets ``lr * F**k`` (the
    layer-wise rates of fine-tuning recipes); ``norm_weight_decay`` applies to the
    parameters of normalisation layers (torchvision's recipe sets it to 0).
    """
    norm_ids = {id(p) for m in model.modules() if isinstance(m, _NORMS) for p in m.parameters(recurse=False)}
    units = layer_units(model) if cfg.layer_decay is not None else []
    groups: dict[tuple[int, float], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        depth = next((len(units) - 1 - i for i, u in enumerate(units) if name.startswith(u + ".")), 0)
        wd = cfg.norm_weight_decay if cfg.norm_weight_decay is not None and id(p) in norm_ids else cfg.weight_decay
        lr = cfg.lr * (cfg.layer_decay**depth if cfg.layer_decay is not None else 1.0)
        groups.setdefault((depth, wd), {"params": [], "lr": lr, "weight_decay": wd, "depth": depth})["params"].append(p)
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    param_groups = [groups[k] for k in sorted(groups, key=lambda k: (-k[0], k[1]))]
    kwargs: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "sgd":
        cls: Any = torch.optim.SGD
        kwargs.update(momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    else:
        cls = torch.optim.AdamW
    if device.type == "cuda":  # one fused kernel per step instead of one per parameter
        try:
            return cls(param_groups, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            return cls(param_groups, foreach=True, **kwargs)
    return cls(param_groups, **kwargs)


def build_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning rate: linear warmup from ``lr * warmup_decay``, then cosine/step/constant."""
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    floor = cfg.min_lr / cfg.lr

    def factor(step: int) -> float:
        if step < warm:
            return cfg.warmup_decay + (1 - cfg.warmup_decay) * step / warm
        if cfg.schedule == "cosine":  # Loshchilov & Hutter 2017 (SGDR), without restarts
            t = min(1.0, (step - warm) / max(1, total_steps - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            epoch = step // steps_per_epoch
            n = bisect.bisect_right(cfg.milestones, epoch) if cfg.milestones else epoch // cfg.step_size
            return max(cfg.gamma**n, floor)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def batch_mix(cfg: TrainConfig, num_classes: int | None) -> Callable[..., Any] | None:
    if not (cfg.mixup or cfg.cutmix):
        return None
    if not num_classes:
        raise ConfigError("mixup/cutmix need the number of classes: give the model a num_classes attribute")
    from torchvision.transforms import v2

    ops: list[Any] = []
    if cfg.mixup > 0:
        ops.append(v2.MixUp(alpha=cfg.mixup, num_classes=num_classes))
    if cfg.cutmix > 0:
        ops.append(v2.CutMix(alpha=cfg.cutmix, num_classes=num_classes))
    return ops[0] if len(ops) == 1 else v2.RandomChoice(ops)


class ModelEma:
    """An exponential moving average of a model's weights and buffers (Polyak averaging).

    ``ema = decay * ema + (1 - decay) * weights`` after an optimiser step. Unlike
    ``torch.optim.swa_utils.AveragedModel``, whose update tests a device counter in Python
    (a host-device sync every step), the count is kept on the host.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        pairs = list(
            zip(
                itertools.chain(self.module.parameters(), self.module.buffers()),
                itertools.chain(model.parameters(), model.buffers()),
            )
        )
        floats = [(e, m) for e, m in pairs if e.is_floating_point()]
        if floats:
            ema, cur = zip(*floats)
            torch._foreach_lerp_(list(ema), [m.detach() for m in cur], 1.0 - self.decay)
        for e, m in pairs:
            if not e.is_floating_point():  # BN's num_batches_tracked: the latest count
                e.copy_(m)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


# ---------------------------------------------------------------- transfer learning
#: what ``freeze`` accepts besides a layer name or a number of stages
FREEZE_PARTS = ("backbone", "features")


def _frozen_prefix(model: nn.Module, what: str) -> list[str]:
    """The module names ``what`` freezes, in registration order (the classifiers are left out later)."""
    names = [n for n, _ in model.named_modules() if n]
    if what == "backbone":
        return names
    info = getattr(model, "feature_info", None)
    stages = [str(f["module"]) for f in info] if info else []
    if what == "features" or what.isdigit():
        keep = 0 if what == "features" else int(what)
        if not stages or keep > len(stages):  # no stages: nothing says where the features end
            raise InvalidArgumentError(
                f"freeze={what!r} counts the network's stages (feature_info, every cnnzoo model has them) and "
                f"{type(model).__name__} has {len(stages)} stages ({', '.join(stages)}): train the last 0 to "
                f"{len(stages)} of them, or freeze a layer by name"
            )
        if keep == len(stages):
            return []
        what = stages[len(stages) - 1 - keep]
    if what not in names:
        from ..analysis.trace import unknown_layers_message

        raise InvalidArgumentError(f"freeze: {unknown_layers_message([what], names)}")
    end = max(i for i, n in enumerate(names) if n == what or n.startswith(what + "."))
    return names[: end + 1]


def freeze_layers(model: nn.Module, what: str = "backbone") -> list[nn.Module]:
    """Freeze part of a network for transfer learning; returns the frozen modules.

    ``what`` is ``"backbone"`` (everything but the classifiers: VGG's and AlexNet's fc6
    and fc7 too), ``"features"`` (the convolutional base, what ``forward_features`` runs:
    VGG's ``features``, Keras's ``conv_base.trainable = False``), a module name (that
    module and every one registered before it, ``"layer3"``, ``"features.16"``) or a
    number N as text (only the last N stages of ``feature_info`` and the head are
    trained: torchvision's ``trainable_backbone_layers``). The classifiers
    (``classifier_names``: GoogLeNet's auxiliary ones too) always stay trainable. A run's
    ``what`` is its ``freeze`` setting, which :class:`TrainConfig` checked.
    """
    heads = classifier_names(model)
    if not heads or not any(True for h in heads for _ in model.get_submodule(h).parameters()):
        raise InvalidArgumentError("freeze: the model has no classifier with parameters (num_classes=0?)")
    modules = dict(model.named_modules())
    frozen = [
        modules[n] for n in _frozen_prefix(model, what) if not any(n == h or n.startswith(h + ".") for h in heads)
    ]
    for m in frozen:
        for p in m.parameters(recurse=False):
            p.requires_grad_(False)
    return frozen


def freeze_part(cfg: TrainConfig) -> str | None:
    """What a run freezes: ``cfg.freeze``, or ``"backbone"`` for ``freeze_backbone``."""
    return "backbone" if cfg.freeze_backbone else cfg.freeze


def set_train_mode(net: nn.Module, model: nn.Module, frozen: list[nn.Module] | None) -> None:
    """Training mode; the BatchNorm layers of a frozen part stay in eval mode.

    In train mode BN would re-estimate the frozen layers' statistics from the new data
    although their affine weights no longer adapt.
    """
    net.train()
    for m in frozen or ():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def frozen_and_trained(model: nn.Module) -> tuple[list[str], list[str]]:
    """The outermost modules whose parameters are all frozen, and those whose parameters are all trained."""
    frozen: list[str] = []
    trained: list[str] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            flags = [p.requires_grad for p in child.parameters()]
            if not flags:
                continue
            if not any(flags):
                frozen.append(full)
            elif all(flags):
                trained.append(full)
            else:
                walk(full + ".", child)

    walk("", model)
    return frozen, trained


def what_is_trained(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """Lines saying what a run trains: parameters frozen and trainable, and the learning rate of
    each unit (:func:`layer_units`) where they differ (``layer_decay``)."""
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    lines = [f"parameters: {total:,} ({total - trainable:,} frozen, {trainable:,} trainable)"]
    if trainable < total:
        frozen_names, trained_names = frozen_and_trained(model)
        lines.append(f"frozen: {', '.join(frozen_names)}; trained: {', '.join(trained_names)}")
    lr_of = {id(p): g.get("initial_lr", g["lr"]) for g in optimizer.param_groups for p in g["params"]}
    units = layer_units(model)
    rows: list[tuple[str, int, set[float]]] = []
    for unit in units:
        ps = [p for n, p in model.named_parameters() if n.startswith(unit + ".")]
        rows.append((unit, sum(p.numel() for p in ps if p.requires_grad), {lr_of[id(p)] for p in ps if id(p) in lr_of}))
    trained = [(u, n, lrs) for u, n, lrs in rows if n]
    if len({lr for _, _, lrs in trained for lr in lrs}) > 1 or len(trained) < len(rows):
        width = max(len(u) for u, _, _ in rows)
        lines.append(f"{'unit'.ljust(width)}  {'trainable':>11}  lr")
        for unit, n, lrs in rows:
            lr = ", ".join(f"{v:.3g}" for v in sorted(lrs)) if n else "frozen"
            lines.append(f"{unit.ljust(width)}  {n:>11,}  {lr}")
    return lines
