"""Receptive fields computed on the real graph of a forward pass, branches included.

A receptive field is described, per spatial axis, by three numbers (Araujo, Norris and Sim,
"Computing Receptive Fields of Convolutional Neural Networks", Distill 2019, Sec. 2):
``size`` (how many input pixels one unit sees), ``jump`` (how far apart in the input the
fields of two neighbouring units are: the product of the strides so far) and ``start`` (the
input pixel where the field of unit 0 begins; negative values lie in the zero padding).
Unit ``i`` sees input pixels ``start + i * jump`` ... ``start + i * jump + size - 1``.

They are propagated while the model runs: a ``TorchFunctionMode`` sees every convolution,
pooling, padding and pointwise call and attaches the field of its output to the output
tensor. Where branches meet (residual ``add``, Inception and DenseNet ``cat``) the result
is the union of the incoming fields, so the largest path wins. A map that reaches a unit
through a global pooling path (the squeeze of squeeze-and-excitation, Hu et al. 2018 Sec. 3.1)
makes the unit depend on the whole input; that is flagged with ``global_context`` while
``size`` keeps the field of the convolutional path. This works for any model that runs,
with no tracing restrictions, on the meta device too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import InvalidArgumentError

__all__ = ["ReceptiveField", "ReceptiveFieldMode", "field_of", "mark_input", "receptive_field", "window_fit"]

_ATTR = "_cnnzoo_rf"


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 4)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of the units of one feature map, per axis (height, width).

    ``size``: input pixels seen by one unit; ``jump``: input distance between neighbouring
    units (the effective stride); ``start``: first input pixel seen by unit 0 (negative:
    inside the padding). ``global_context`` is True when a global pooling path (e.g. SE's
    squeeze) also feeds the unit, so that it depends on every input pixel. Araujo et al.,
    "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
    """

    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    global_context: bool = False

    def span(self, row: int, col: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """Input rows and columns ``(first, last)`` (inclusive) seen by unit ``(row, col)``."""
        out = []
        for axis, i in enumerate((row, col)):
            lo = self.start[axis] + i * self.jump[axis]
            out.append((lo, lo + self.size[axis] - 1))
        return out[0], out[1]

    def to_dict(self) -> dict[str, Any]:
        return {"size": [_num(v) for v in self.size], "jump": [_num(v) for v in self.jump],
                "start": [_num(v) for v in self.start], "global_context": self.global_context}

    def __str__(self) -> str:
        def fmt(pair: tuple[float, float]) -> str:
            a, b = (_num(v) for v in pair)
            return f"{a}" if a == b else f"{a}x{b}"

        text = f"{fmt(self.size)} px (jump {fmt(self.jump)}, start {fmt(self.start)})"
        return text + " + global context" if self.global_context else text


_INPUT = ReceptiveField((1, 1), (1, 1), (0, 0))


def mark_input(x: torch.Tensor) -> torch.Tensor:
    """Mark ``x`` as the network input (each pixel sees itself)."""
    setattr(x, _ATTR, _INPUT)
    return x


def field_of(x: Any) -> ReceptiveField | None:
    """The receptive field attached to a tensor by :class:`ReceptiveFieldMode`, if any."""
    return getattr(x, _ATTR, None) if isinstance(x, torch.Tensor) else None


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _pair(v: Any, default: Any = None) -> tuple[int, int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[-2]), int(v[-1]))
    return int(v), int(v)


def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _window(rf: ReceptiveField, kernel: tuple[float, float], stride: tuple[float, float],
            padding: tuple[float, float], dilation: tuple[int, int] = (1, 1)) -> ReceptiveField:
    # the recurrences of Araujo et al. 2019, Eq. (1)-(3), one axis at a time
    size, jump, start = [], [], []
    for a in range(2):
        k_eff = dilation[a] * (kernel[a] - 1) + 1
        size.append(rf.size[a] + (k_eff - 1) * rf.jump[a])
        start.append(rf.start[a] - padding[a] * rf.jump[a])
        jump.append(rf.jump[a] * stride[a])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start), rf.global_context)  # type: ignore[arg-type]


def _collapse(rf: ReceptiveField, hw: Sequence[int]) -> ReceptiveField:
    """The field of a unit that pools (or flattens) a whole ``hw`` map: the union of all its units."""
    return _window(rf, (hw[0], hw[1]), (hw[0], hw[1]), (0, 0))


def _union(fields: list[ReceptiveField], glob: bool) -> ReceptiveField:
    # unit i of each branch covers [start + i*jump, start + i*jump + size - 1]; the merged
    # unit sees the union. Branches that meet have the same resolution, hence the same jump
    # (where they do not, unit 0's union with the largest jump is reported).
    size, start, jump = [], [], []
    for a in range(2):
        lo = min(f.start[a] for f in fields)
        hi = max(f.start[a] + f.size[a] - 1 for f in fields)
        size.append(hi - lo + 1)
        start.append(lo)
        jump.append(max(f.jump[a] for f in fields))
    glob = glob or any(f.global_context for f in fields)
    return ReceptiveField(tuple(size), tuple(jump), tuple(start), glob)  # type: ignore[arg-type]


def _spatial(t: torch.Tensor) -> tuple[int, int] | None:
    # (N, C, H, W) maps, and (N, H, W) slices of them: the last two axes are spatial
    return (int(t.shape[-2]), int(t.shape[-1])) if t.ndim >= 3 else None


def _adaptive(rf: ReceptiveField, hw_in: tuple[int, int], hw_out: tuple[int, int]) -> ReceptiveField:
    # PyTorch's adaptive pooling: output i pools inputs floor(i*n/m) .. ceil((i+1)*n/m) - 1.
    # Exact when n is a multiple of m (global pooling included); otherwise the windows vary
    # and the largest one is reported, with the mean stride n/m.
    kernel: list[int] = []
    stride: list[float] = []
    for n, m in zip(hw_in, hw_out):
        if n % m == 0:
            kernel.append(n // m)
            stride.append(n // m)
        else:
            kernel.append(max(math.ceil((i + 1) * n / m) - (i * n) // m for i in range(m)))
            stride.append(n / m)
    return _window(rf, tuple(kernel), tuple(stride), (0, 0))  # type: ignore[arg-type]


def _spatial_op(name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor,
                rf: ReceptiveField, out: torch.Tensor) -> ReceptiveField | None:
    if name == "conv2d":
        weight = _arg(args, kwargs, 1, "weight", None)
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        stride = _pair(_arg(args, kwargs, 3, "stride", 1))
        dilation = _pair(_arg(args, kwargs, 5, "dilation", 1))
        pad = _arg(args, kwargs, 4, "padding", 0)
        if isinstance(pad, str):  # 'valid' = 0; 'same' puts the smaller half first
            pad = (0, 0) if pad == "valid" else tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))
        return _window(rf, kernel, stride, _pair(pad), dilation)
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
        padding = _pair(_arg(args, kwargs, 3, "padding", 0))
        dilation = _pair(_arg(args, kwargs, 4, "dilation", 1))
        return _window(rf, kernel, stride, padding, dilation)
    if name == "avg_pool2d":
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
        return _window(rf, kernel, stride, _pair(_arg(args, kwargs, 3, "padding", 0)))
    if name == "lp_pool2d":
        kernel = _pair(_arg(args, kwargs, 2, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 3, "stride", None), kernel)
        return _window(rf, kernel, stride, (0, 0))
    if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d",
                "adaptive_max_pool2d_with_indices"):
        hw_in, hw_out = _spatial(x), _spatial(out)
        return _adaptive(rf, hw_in, hw_out) if hw_in and hw_out else None
    if name == "pad":
        pad = list(_arg(args, kwargs, 1, "pad", ()))
        left = pad[0] if len(pad) >= 2 else 0
        top = pad[2] if len(pad) >= 4 else 0
        return ReceptiveField(rf.size, rf.jump, (rf.start[0] - top * rf.jump[0],
                                                  rf.start[1] - left * rf.jump[1]), rf.global_context)
    raise KeyError(name)


def _window_args(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """(kernel, stride, padding, dilation, ceil_mode) of a sliding-window op, or None."""
    if name == "conv2d":
        weight = _arg(args, kwargs, 1, "weight", None)
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        pad = _arg(args, kwargs, 4, "padding", 0)
        if isinstance(pad, str):  # 'same' fits by construction; 'valid' is no padding
            return None if pad == "same" else (kernel, _pair(_arg(args, kwargs, 3, "stride", 1)), (0, 0),
                                                _pair(_arg(args, kwargs, 5, "dilation", 1)), False)
        return (kernel, _pair(_arg(args, kwargs, 3, "stride", 1)), _pair(pad),
                _pair(_arg(args, kwargs, 5, "dilation", 1)), False)
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        return (kernel, _pair(_arg(args, kwargs, 2, "stride", None), kernel),
                _pair(_arg(args, kwargs, 3, "padding", 0)), _pair(_arg(args, kwargs, 4, "dilation", 1)),
                bool(_arg(args, kwargs, 5, "ceil_mode", False)))
    if name == "avg_pool2d":
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        return (kernel, _pair(_arg(args, kwargs, 2, "stride", None), kernel),
                _pair(_arg(args, kwargs, 3, "padding", 0)), (1, 1), bool(_arg(args, kwargs, 4, "ceil_mode", False)))
    return None


def window_fit(name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor,
               out: torch.Tensor) -> str | None:
    """Where ``(N - F + 2P)/S + 1`` is not a whole number for a convolution or pooling, say so.

    The output size formula of the convolution arithmetic (Dumoulin and Visin 2016, Sec. 2.4):
    when the stride does not divide ``N - F + 2P`` the last window does not fit, and PyTorch
    floors the result (the last rows and columns are never seen), or with ``ceil_mode`` rounds
    it up (the last window hangs over the edge). ``F`` is the dilated extent ``D(K - 1) + 1``.
    """
    window = _window_args(name, args, kwargs)
    hw_in, hw_out = _spatial(x), _spatial(out)
    if window is None or hw_in is None or hw_out is None:
        return None
    kernel, stride, padding, dilation, _ = window
    parts = []
    for a in range(2):
        f = dilation[a] * (kernel[a] - 1) + 1
        span = hw_in[a] - f + 2 * padding[a]
        if stride[a] > 0 and span >= 0 and span % stride[a]:
            value = span / stride[a] + 1
            how = "floored" if hw_out[a] == math.floor(value) else "rounded up (ceil_mode)"
            parts.append(f"({hw_in[a]} - {f} + 2*{padding[a]})/{stride[a]} + 1 = {round(value, 2):g}: "
                         f"does not fit, {how} to {hw_out[a]}")
        else:
            parts.append("")
    if not any(parts):
        return None
    if parts[0] == parts[1]:
        return parts[0]
    return "; ".join(f"{axis}: {p}" for axis, p in zip("HW", parts) if p)


_SPATIAL_OPS = {"conv2d", "max_pool2d", "_max_pool2d", "max_pool2d_with_indices", "avg_pool2d",
                "lp_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "_adaptive_max_pool2d",
                "adaptive_max_pool2d_with_indices", "pad"}


def _pointwise(inputs: list[tuple[torch.Tensor, ReceptiveField]], out: torch.Tensor) -> ReceptiveField | None:
    """Any other op: the union of its inputs' fields, judged by the shapes.

    Inputs of the output's resolution merge as branches; a 1x1 map (or a flat vector)
    broadcast over a larger map is a global-context path; a larger map turned into a 1x1
    map or a vector (mean, flatten, view) is pooled whole. Anything else that changes the
    resolution is not understood: None (shown as unknown), never a guess.
    """
    hw_out = _spatial(out)
    fields, glob = [], False
    for t, rf in inputs:
        hw = _spatial(t)
        if hw_out is None:
            fields.append(_collapse(rf, hw) if hw is not None else rf)
        elif hw == hw_out:
            fields.append(rf)
        elif hw is None or hw == (1, 1):
            if hw_out == (1, 1):
                fields.append(rf)
            else:
                glob = True
        elif hw_out == (1, 1):
            fields.append(_collapse(rf, hw))
        else:
            return None
    if not fields:
        return None
    return _union(fields, glob)


class ReceptiveFieldMode(TorchFunctionMode):
    """While active, every tensor computed from a :func:`mark_input`-ed tensor carries its field.

    Read a tensor's field with :func:`field_of`. Unknown resolution-changing operations give
    ``None`` downstream rather than a wrong number. ``on_note`` (optional) is called with
    :func:`window_fit`'s sentence for every convolution or pooling whose window does not fit.
    """

    def __init__(self, on_note: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.on_note = on_note

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = [t for t in _tensors(out) if not isinstance(t, torch.nn.Parameter)]
        if not outs:
            return out
        # tensors carrying the attribute derive from the input (None: their field was lost);
        # the others are weights and constants, which have no receptive field
        known = [(t, field_of(t)) for t in _tensors((args, kwargs)) if hasattr(t, _ATTR)]
        if not known:
            return out
        name = getattr(func, "__name__", "")
        if self.on_note is not None and name in _SPATIAL_OPS:
            note = window_fit(name, args, kwargs, known[0][0], outs[0])
            if note is not None:
                self.on_note(note)
        for o in outs:
            if any(rf is None for _, rf in known):
                rf_out = None  # an input whose field is unknown makes the output unknown
            elif name in _SPATIAL_OPS:
                x, rf = known[0]
                rf_out = _spatial_op(name, args, kwargs, x, rf, o)  # type: ignore[arg-type]
            else:
                rf_out = _pointwise(known, o)  # type: ignore[arg-type]
            setattr(o, _ATTR, rf_out)
        return out


def receptive_field(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None, *,
                    layer: str | None = None) -> ReceptiveField:
    """The receptive field of ``layer``'s output (a module name; its first call where it is called
    more than once), or of the final feature map (``forward_features``'s, or any module's output map).

    Computed on the real graph (branches, residual and dense connections included: the
    largest path wins), per axis: size, jump (effective stride) and start offset, as in
    Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
    E.g. ``receptive_field("vgg16", layer="features.30").size == (212, 212)``.
    """
    # the instrumented forward runs this module's mode: imported here, not at the top
    from .trace import resolve_input_size, resolve_model, trace, unknown_layers_message

    model = resolve_model(model_or_name)
    tr = trace(model, resolve_input_size(model, input_size))
    if layer is None:
        rf = tr.feature_field
        where = "the final feature map"
    else:
        names = [n for n, _ in model.named_modules() if n]
        if layer not in names:
            raise InvalidArgumentError(unknown_layers_message([layer], names))
        if layer not in tr.shapes:
            raise InvalidArgumentError(f"layer '{layer}' does not run in eval mode, so it has no output")
        rf, where = tr.fields[layer], f"'{layer}'"
    if rf is None:
        raise InvalidArgumentError(f"the receptive field of {where} is unknown: an operation "
                                   "changes the resolution in a way the analysis does not model")
    return rf
