"""The one instrumented forward pass that every analysis reads.

Everything is measured from the module itself, never from a hand-kept formula: one forward
pass (on the meta device when the model allows it, so VGG-16 costs nothing) with forward
hooks for shapes, ``torch.utils.flop_counter.FlopCounterMode`` for the multiply-adds
(:mod:`~cnnzoo.analysis.flops`) and :class:`~cnnzoo.analysis.receptive.ReceptiveFieldMode`
for the receptive fields. :func:`trace` returns a :class:`Trace` of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import InputSizeError, InvalidArgumentError, suggest
from .receptive import ReceptiveField, ReceptiveFieldMode, field_of, mark_input

__all__ = ["resolve_model", "resolve_input_size", "Probe", "Trace", "first_tensor", "trace",
           "unknown_layers_message"]


def resolve_model(model_or_name: nn.Module | str) -> nn.Module:
    if isinstance(model_or_name, nn.Module):
        return model_or_name
    if not isinstance(model_or_name, str):
        raise InvalidArgumentError(f"expected a model or a model name, got {type(model_or_name).__name__}")
    from ..models.factory import create_model, split_model_name

    base, _ = split_model_name(model_or_name)  # a weight tag changes no layer: the architecture suffices
    with torch.device("meta"):
        return create_model(base)


def resolve_input_size(model: nn.Module, input_size: Sequence[int] | int | None) -> tuple[int, int, int]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    chans = getattr(model, "in_chans", None) or next(
        (m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    if input_size is None:
        size = cfg.get("input_size") or (chans, 224, 224)
    elif isinstance(input_size, int):
        size = (chans, input_size, input_size)
    else:
        size = tuple(input_size)
    if len(size) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise InvalidArgumentError(f"input_size must be (C, H, W) positive integers, got {input_size!r}")
    min_size = cfg.get("min_input_size")
    if min_size and (size[1] < min_size[1] or size[2] < min_size[2]):
        raise InputSizeError(f"input {size[1]}x{size[2]} is smaller than the {min_size[1]}x{min_size[2]} "
                             f"this model accepts; pass a larger input_size")
    return size[0], size[1], size[2]


class Probe(nn.Module):
    """Runs ``forward_features`` then ``forward_head`` (timm's split) so the feature map is seen."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.split = callable(getattr(model, "forward_features", None)) and callable(
            getattr(model, "forward_head", None))
        self.in_features = False
        self.feature_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> Any:
        if not self.split:
            return self.model(x)
        self.in_features = True
        try:
            f = getattr(self.model, "forward_features")(x)  # noqa: B009 - any model with timm's split
        finally:
            self.in_features = False
        self.feature_map = f
        return getattr(self.model, "forward_head")(f)  # noqa: B009


@dataclass
class Trace:
    input_size: tuple[int, int, int]
    order: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    fields: dict[str, ReceptiveField | None] = field(default_factory=dict)
    completions: list[tuple[str, tuple[int, int] | None, bool]] = field(default_factory=list)
    activation_bytes: int = 0
    macs_by_module: dict[str, int] = field(default_factory=dict)
    macs_by_op: dict[str, int] = field(default_factory=dict)
    macs: int = 0
    output_shape: tuple[int, ...] | None = None
    feature_name: str | None = None
    feature_shape: tuple[int, ...] | None = None
    feature_field: ReceptiveField | None = None


def first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for o in out:
            t = first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        return first_tensor(list(out.values()))
    return None


def trace(model: nn.Module, size: tuple[int, int, int]) -> Trace:
    tensors = list(model.parameters()) + list(model.buffers())
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    on_meta = all(t.device.type == "meta" for t in tensors)
    if on_meta:
        return _run_once(model, size, torch.device("meta"), dtype, meta_state=False)
    try:  # meta copies of the weights: shapes and counts without computing anything
        return _run_once(model, size, torch.device("meta"), dtype, meta_state=True)
    except (RuntimeError, NotImplementedError, TypeError):
        # a model holding plain tensors outside its parameters/buffers cannot run on meta
        device = tensors[0].device if tensors else torch.device("cpu")
        return _run_once(model, size, device, dtype, meta_state=False)


def _run_once(model: nn.Module, size: tuple[int, int, int], device: torch.device, dtype: torch.dtype,
              meta_state: bool) -> Trace:
    from torch.utils.flop_counter import FlopCounterMode

    tr = Trace(size)
    probe = Probe(model)
    names = {m: n for n, m in model.named_modules() if n}
    counter = FlopCounterMode(display=False)
    started: list[int] = []  # the counter's total when each running module began

    def pre_hook(mod: nn.Module, inputs: Any) -> None:
        n = names[mod]
        if tr.calls[n] == 0:
            tr.order.append(n)
        tr.calls[n] += 1
        started.append(counter.get_total_flops())

    def post_hook(mod: nn.Module, inputs: Any, out: Any) -> None:
        n = names[mod]
        # MACs of this call, submodules included: the counter's growth while it ran (by
        # module object, so a container sliced in forward, VGG's classifier[:-1], still counts)
        tr.macs_by_module[n] = tr.macs_by_module.get(n, 0) + (counter.get_total_flops() - started.pop()) // 2
        t = first_tensor(out)
        if n not in tr.shapes and t is not None:
            tr.shapes[n] = tuple(t.shape[1:])
            tr.fields[n] = field_of(t)
        hw = (int(t.shape[-2]), int(t.shape[-1])) if t is not None and t.ndim == 4 else None
        tr.completions.append((n, hw, probe.in_features or not probe.split))
        leaf = next(iter(mod.children()), None) is None
        if leaf and t is not None and not any(t is i for i in inputs):  # in-place ops add no memory
            tr.activation_bytes += t.numel() * t.element_size()

    handles = []
    for m in names:
        handles.append(m.register_forward_pre_hook(pre_hook))
        handles.append(m.register_forward_hook(post_hook))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        x = mark_input(torch.zeros((1, *size), device=device, dtype=dtype))
        with torch.no_grad(), counter, ReceptiveFieldMode():
            if meta_state:
                state = {f"model.{k}": torch.empty_like(v, device="meta")
                         for k, v in [*model.named_parameters(), *model.named_buffers()]}
                out = torch.func.functional_call(probe, state, (x,))
            else:
                out = probe(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    t = first_tensor(out)
    tr.output_shape = tuple(t.shape[1:]) if t is not None else None
    tr.macs = counter.get_total_flops() // 2
    tr.macs_by_op = {str(op): c // 2 for op, c in counter.get_flop_counts().get("Global", {}).items()}
    if probe.split and isinstance(probe.feature_map, torch.Tensor):
        fm = probe.feature_map
        tr.feature_name = "forward_features"
        tr.feature_shape, tr.feature_field = tuple(fm.shape[1:]), field_of(fm)
    else:  # a foreign model: the last 4-D map before global pooling
        for n, hw, _ in reversed(tr.completions):
            mod = model.get_submodule(n)
            if hw is not None and not isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                tr.feature_name, tr.feature_shape, tr.feature_field = n, tr.shapes[n], tr.fields[n]
                break
    return tr


def unknown_layers_message(unknown: Sequence[str], names: Sequence[str]) -> str:
    close = [s for u in unknown for s in suggest(u, names, n=3)]
    top = [n for n in names if n.count(".") < 2]
    hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
    return (f"unknown layer name(s) {', '.join(map(repr, unknown))}{hint}; valid names are module "
            f"names such as {', '.join(top)}, or deeper ones (cnnzoo info MODEL --depth N lists them)")
