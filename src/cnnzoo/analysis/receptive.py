"""Receptive fields computed on the real graph of a forward pass, branches included.

A receptive field is described, per spatial axis, by three numbers (Araujo, Norris and Sim,
"Computing Receptive Fields of Convolutional Neural Networks", Distill 2019, Sec. 2):
``size`` (how many input pixels one unit sees), ``jump`` (how far apart in the input the
fields of two neighbouring units are: the product of the strides so far) and ``start`` (the
input pixel where the field of unit 0 begins; negative values lie in the zero padding).
Unit ``i`` sees input pixels ``start + i * jump`` ... ``start + i * jump + size - 1``.

They are propagated while the model runs: a ``TorchFunctionMode`` sees every convolution,
pooling, padding, resampling and elementwise call and attaches the field of its output to
the output tensor. Where branches meet (residual ``add``, Inception and DenseNet ``cat``) the
result is the union of the incoming fields, so the largest path wins.

Some operations give units fields that no ``(size, jump, start)`` describes: adaptive
pooling whose input is not a multiple of its output (17 -> 5 pools rows 0..4, 2..7, 5..11,
9..14, 12..16), upsampling, transposed convolution, ``cumsum`` and ``roll`` along an image
axis. There the exact window of every unit is kept (``windows``), ``size`` is the largest
(a true bound) and ``jump`` the mean distance between units. A unit that depends on the whole
input through statistics or a global pooling path (the squeeze of squeeze-and-excitation, Hu
et al. 2018 Sec. 3.1; GroupNorm, InstanceNorm, LayerNorm over the map, BatchNorm in training)
is flagged with ``global_context`` while ``size`` keeps the field of the convolutional path.
An operation whose effect on the image axes is not known gives ``None`` (unknown), never a
guess. This works for any model that runs, with no tracing restrictions, on the meta device too.
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
from .receptive_ops import CUMULATIVE, ELEMENTWISE, FROM_SHAPE, REDUCTIONS, SPATIAL_OPS, VECTOR_MIXING, WHOLE_AXIS

__all__ = ["ReceptiveField", "ReceptiveFieldMode", "field_of", "mark_input", "receptive_field", "window_fit"]

_ATTR = "_cnnzoo_rf"
_MAP = "_cnnzoo_map"  # set on tensors whose last two axes are the image's (rows, columns)

Span = tuple[float, float]
Windows = tuple[Span, ...]


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 4)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of the units of one feature map, per axis (height, width).

    ``size``: input pixels seen by one unit; ``jump``: input distance between neighbouring
    units (the effective stride); ``start``: first input pixel seen by unit 0 (negative:
    inside the padding). ``global_context`` is True when a global path (SE's squeeze, the
    statistics of GroupNorm or InstanceNorm) also feeds the unit, so that it depends on every
    input pixel. ``windows`` holds, for an axis whose units' fields are not evenly spaced
    copies of one window (adaptive pooling 17 -> 5, upsampling, ``cumsum``), the exact
    ``(first, last)`` input pixels of every unit; ``size`` is then the largest and ``jump``
    the mean spacing. ``flat`` is ``(h, w)`` for a vector made by flattening an ``h x w``
    map: each element keeps the field of its own unit, there is no single field for all.
    Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
    """

    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    global_context: bool = False
    windows: tuple[Windows | None, Windows | None] = (None, None)
    flat: tuple[int, int] | None = None

    @property
    def exact(self) -> bool:
        """True when every unit's field is ``size`` pixels from ``start + i * jump`` (no ``windows``)."""
        return self.windows == (None, None)

    def span(self, row: int, col: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """Input rows and columns ``(first, last)`` (inclusive) seen by unit ``(row, col)``."""
        out = []
        for axis, i in enumerate((row, col)):
            win = self.windows[axis]
            if win is not None:
                out.append(win[i])
            else:
                lo = self.start[axis] + i * self.jump[axis]
                out.append((lo, lo + self.size[axis] - 1))
        return out[0], out[1]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "size": [_num(v) for v in self.size],
            "jump": [_num(v) for v in self.jump],
            "start": [_num(v) for v in self.start],
            "global_context": self.global_context,
        }
        # only where they apply, so that the common field keeps its four keys
        if not self.exact:
            d["windows"] = [None if w is None else [[_num(a), _num(b)] for a, b in w] for w in self.windows]
        if self.flat is not None:
            d["flat"] = list(self.flat)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReceptiveField:
        """The inverse of :meth:`to_dict`."""
        wins = d.get("windows") or (None, None)
        return cls(
            tuple(d["size"]),
            tuple(d["jump"]),
            tuple(d["start"]),
            bool(d.get("global_context")),
            tuple(None if w is None else tuple((a, b) for a, b in w) for w in wins),  # type: ignore[arg-type]
            tuple(d["flat"]) if d.get("flat") else None,
        )

    def windows_text(self, most: int = 6) -> str:
        """The first ``most`` exact windows of each axis that has them, as input pixel ranges."""
        names = ("rows and columns", "") if self.windows[0] == self.windows[1] else ("rows", "columns")
        parts = []
        for name, win in zip(names, self.windows):
            if win is not None and name:
                shown = ", ".join(f"{_num(a)}..{_num(b)}" for a, b in win[:most])
                parts.append(f"{name} {shown}" + (f", ... ({len(win)} units)" if len(win) > most else ""))
        return "; ".join(parts)

    def __str__(self) -> str:
        def fmt(pair: tuple[float, float]) -> str:
            a, b = (_num(v) for v in pair)
            return f"{a}" if a == b else f"{a}x{b}"

        if self.exact:
            text = f"{fmt(self.size)} px (jump {fmt(self.jump)}, start {fmt(self.start)})"
        else:
            text = (
                f"up to {fmt(self.size)} px, exact windows per unit: {self.windows_text()} "
                f"(mean jump {fmt(self.jump)}, start {fmt(self.start)})"
            )
        if self.flat is not None:
            text = f"per element of a flattened {self.flat[0]}x{self.flat[1]} map: " + text
        return text + " + global context" if self.global_context else text


_INPUT = ReceptiveField((1, 1), (1, 1), (0, 0))


def mark_input(x: torch.Tensor) -> torch.Tensor:
    """Mark ``x`` as the network input (each pixel sees itself)."""
    setattr(x, _ATTR, _INPUT)
    setattr(x, _MAP, x.ndim >= 3)
    return x


def field_of(x: Any) -> ReceptiveField | None:
    """The receptive field attached to a tensor by :class:`ReceptiveFieldMode`, if any."""
    return getattr(x, _ATTR, None) if isinstance(x, torch.Tensor) else None


def _is_map(x: torch.Tensor) -> bool:
    return bool(getattr(x, _MAP, False))


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


# ------------------------------------------------------------------ one axis at a time
# An axis of a field is (size, jump, start, windows). Where windows is None the units are
# evenly spaced copies of one window; otherwise windows[i] is unit i's (first, last) pixel.
Axis = tuple[float, float, float, Windows | None]


class _Unknown(Exception):
    """The operation's effect on an image axis is not modelled: the field becomes unknown."""


def _axis(rf: ReceptiveField, a: int) -> Axis:
    return rf.size[a], rf.jump[a], rf.start[a], rf.windows[a]


def _build(axes: Sequence[Axis], glob: bool, flat: tuple[int, int] | None = None) -> ReceptiveField:
    return ReceptiveField(
        (axes[0][0], axes[1][0]),
        (axes[0][1], axes[1][1]),
        (axes[0][2], axes[1][2]),
        glob,
        (axes[0][3], axes[1][3]),
        flat,
    )


def _spans(ax: Axis, n: int) -> list[Span]:
    size, jump, start, win = ax
    if win is not None:
        if len(win) != n:
            raise _Unknown
        return list(win)
    return [(start + i * jump, start + i * jump + size - 1) for i in range(n)]


def _fit(spans: Sequence[Span], jump_if_one: float, mean_jump: float) -> Axis:
    """The axis of units with these spans: evenly spaced copies of one window where they are,
    else the exact windows with ``mean_jump`` (the input distance the axis covers per unit)."""
    if len(spans) == 1:
        lo, hi = spans[0]
        return hi - lo + 1, jump_if_one, lo, None
    sizes = {hi - lo + 1 for lo, hi in spans}
    steps = {spans[i + 1][0] - spans[i][0] for i in range(len(spans) - 1)}
    if len(sizes) == 1 and len(steps) == 1 and min(steps) >= 0:  # a flip runs backwards: windows
        return sizes.pop(), steps.pop(), spans[0][0], None
    return max(hi - lo + 1 for lo, hi in spans), mean_jump, spans[0][0], tuple(spans)


def _gather(ax: Axis, n_in: int, taps: Sequence[Sequence[int]]) -> Axis:
    """Output unit ``j`` combines the input units ``taps[j]`` (indices outside the map are
    padding: they add no pixel): its field is the union of theirs."""
    spans_in = _spans(ax, n_in)
    out = []
    for tap in taps:
        inside = [spans_in[i] for i in tap if 0 <= i < n_in]
        if not inside:
            raise _Unknown  # a unit made of padding alone
        out.append((min(lo for lo, _ in inside), max(hi for _, hi in inside)))
    # n_in units of jump j resampled to m: j * n_in / m apart on average (an adaptive pool
    # 17 -> 5 moves 3.4 pixels per unit, a 2x upsampling half the input's jump)
    return _fit(out, ax[1] * n_in, ax[1] * n_in / len(taps))


def _slide(ax: Axis, n_in: int, n_out: int, kernel: float, stride: float, padding: float, dilation: int = 1) -> Axis:
    # the recurrences of Araujo et al. 2019, Eq. (1)-(3), where the units are evenly spaced
    size, jump, start, win = ax
    if win is None:
        k_eff = dilation * (kernel - 1) + 1
        return size + (k_eff - 1) * jump, jump * stride, start - padding * jump, None
    taps = [[int(j * stride - padding + t * dilation) for t in range(int(kernel))] for j in range(n_out)]
    return _gather(ax, n_in, taps)


def _collapse_axis(ax: Axis, n: int) -> Axis:
    """One unit that sees all ``n`` units of the axis (global pooling, a fully connected layer)."""
    return _slide(ax, n, 1, n, n, 0) if ax[3] is None else _gather(ax, n, [list(range(n))])


def _merge_axis(axes: Sequence[Axis], n: int) -> Axis:
    """Unit-by-unit union of branches of ``n`` units that meet (add, cat, multiply)."""
    if all(ax[3] is None for ax in axes) and len({ax[1] for ax in axes}) == 1:
        lo = min(ax[2] for ax in axes)
        hi = max(ax[2] + ax[0] - 1 for ax in axes)
        return hi - lo + 1, axes[0][1], lo, None
    spans = [_spans(ax, n) for ax in axes]
    jump = max(ax[1] for ax in axes)
    return _fit([(min(s[i][0] for s in spans), max(s[i][1] for s in spans)) for i in range(n)], jump * n, jump)


def _window(
    rf: ReceptiveField,
    hw_in: tuple[int, int],
    hw_out: tuple[int, int],
    kernel: tuple[float, float],
    stride: tuple[float, float],
    padding: tuple[float, float],
    dilation: tuple[int, int] = (1, 1),
) -> ReceptiveField:
    return _build(
        [_slide(_axis(rf, a), hw_in[a], hw_out[a], kernel[a], stride[a], padding[a], dilation[a]) for a in range(2)],
        rf.global_context,
    )


def _collapse(rf: ReceptiveField, hw: Sequence[int]) -> ReceptiveField:
    """The field of a unit that sees a whole ``hw`` map (global pooling, a fully connected
    layer over a flattened map): the union of all its units."""
    return _build([_collapse_axis(_axis(rf, a), hw[a]) for a in range(2)], rf.global_context)


def _spatial(t: torch.Tensor) -> tuple[int, int] | None:
    # (N, C, H, W) maps, and (N, H, W) slices of them: the last two axes are spatial
    return (int(t.shape[-2]), int(t.shape[-1])) if t.ndim >= 3 else None


def _adaptive_taps(n: int, m: int) -> list[list[int]]:
    # PyTorch's adaptive pooling: output i pools inputs floor(i*n/m) .. ceil((i+1)*n/m) - 1
    return [list(range((i * n) // m, -((-(i + 1) * n) // m))) for i in range(m)]


def _adaptive(rf: ReceptiveField, hw_in: tuple[int, int], hw_out: tuple[int, int]) -> ReceptiveField:
    # a fixed window where n is a multiple of m (global pooling, identity included); otherwise
    # the bins overlap and vary (17 -> 5), or the map is copied up (1 -> 7: every unit the same)
    axes = []
    for a, (n, m) in enumerate(zip(hw_in, hw_out)):
        ax = _axis(rf, a)
        axes.append(_slide(ax, n, m, n // m, n // m, 0) if n % m == 0 else _gather(ax, n, _adaptive_taps(n, m)))
    return _build(axes, rf.global_context)


def _interpolate_taps(args: Sequence[Any], kwargs: dict[str, Any], axis: int, n: int, m: int) -> list[list[int]]:
    """Which input units each output unit of ``F.interpolate`` reads along one axis, found by
    running PyTorch's own kernel on a one-hot probe (every mode and its index arithmetic:
    ``align_corners``, a ``scale_factor`` that is not ``m/n``, antialiasing)."""
    size = _arg(args, kwargs, 1, "size", None)
    scale = _arg(args, kwargs, 2, "scale_factor", None)
    call = {
        "mode": _arg(args, kwargs, 3, "mode", "nearest"),
        "align_corners": _arg(args, kwargs, 4, "align_corners", None),
        "recompute_scale_factor": _arg(args, kwargs, 5, "recompute_scale_factor", None),
        "antialias": _arg(args, kwargs, 6, "antialias", False),
    }
    probe = torch.eye(n, dtype=torch.float64, device="cpu").reshape(1, n, n, 1)
    if axis == 1:
        probe = probe.transpose(2, 3)
    if size is not None:
        call["size"] = (m, 1) if axis == 0 else (1, m)
    else:
        s = (float(scale[0]), float(scale[-1])) if isinstance(scale, (list, tuple)) else (float(scale),) * 2
        call["scale_factor"] = (s[0], 1.0) if axis == 0 else (1.0, s[1])
    out = nn.functional.interpolate(probe, **call).reshape(n, m)
    return [torch.nonzero(out[:, j]).flatten().tolist() for j in range(m)]


def _transpose_taps(n: int, m: int, kernel: int, stride: int, padding: int, dilation: int) -> list[list[int]]:
    # a transposed convolution scatters input unit i to outputs i*s - p + t*d (t < k): output
    # o reads the inputs i = (o + p - t*d) / s that are whole numbers
    taps = []
    for o in range(m):
        taps.append(
            [
                (o + padding - t * dilation) // stride
                for t in range(kernel)
                if (o + padding - t * dilation) % stride == 0
            ]
        )
    return taps


def _resampled(
    rf: ReceptiveField,
    hw_in: tuple[int, int],
    hw_out: tuple[int, int],
    taps: Callable[[int, int, int], list[list[int]]],
) -> ReceptiveField:
    return _build([_gather(_axis(rf, a), hw_in[a], taps(a, hw_in[a], hw_out[a])) for a in range(2)], rf.global_context)


def _hw(t: torch.Tensor) -> tuple[int, int]:
    return int(t.shape[-2]), int(t.shape[-1])


_PAD_TAPS: dict[str, Callable[[int, int], int]] = {
    "circular": lambda i, n: i % n,
    "replicate": lambda i, n: min(max(i, 0), n - 1),
    "reflect": lambda i, n: abs(i) if i < n else 2 * (n - 1) - i,
}


def _padded(
    rf: ReceptiveField, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor, out: torch.Tensor
) -> ReceptiveField:
    pad = list(_arg(args, kwargs, 1, "pad", ()))
    before = (pad[2] if len(pad) >= 4 else 0, pad[0] if len(pad) >= 2 else 0)  # (top, left)
    mode = _arg(args, kwargs, 2, "mode", "constant")
    if mode == "constant":  # zero padding: the field reaches into it, as Araujo et al. count
        return _build(
            [
                (rf.size[a], rf.jump[a], rf.start[a] - before[a] * rf.jump[a], rf.windows[a])
                if rf.windows[a] is None
                else _gather(_axis(rf, a), _hw(x)[a], [[j - before[a]] for j in range(_hw(out)[a])])
                for a in range(2)
            ],
            rf.global_context,
        )
    if mode not in _PAD_TAPS:
        raise _Unknown
    source = _PAD_TAPS[mode]  # the padded units copy units of the map itself
    return _resampled(rf, _hw(x), _hw(out), lambda a, n, m: [[source(j - before[a], n)] for j in range(m)])


def _spatial_op(
    name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor, rf: ReceptiveField, out: torch.Tensor
) -> ReceptiveField:
    hw_in, hw_out = _hw(x), _hw(out)
    if name == "conv2d":
        weight = _arg(args, kwargs, 1, "weight", None)
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        stride = _pair(_arg(args, kwargs, 3, "stride", 1))
        dilation = _pair(_arg(args, kwargs, 5, "dilation", 1))
        pad = _arg(args, kwargs, 4, "padding", 0)
        if isinstance(pad, str):  # 'valid' = 0; 'same' puts the smaller half first
            pad = (0, 0) if pad == "valid" else tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel))
        return _window(rf, hw_in, hw_out, kernel, stride, _pair(pad), dilation)
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
        padding = _pair(_arg(args, kwargs, 3, "padding", 0))
        dilation = _pair(_arg(args, kwargs, 4, "dilation", 1))
        return _window(rf, hw_in, hw_out, kernel, stride, padding, dilation)
    if name == "avg_pool2d":
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 2, "stride", None), kernel)
        return _window(rf, hw_in, hw_out, kernel, stride, _pair(_arg(args, kwargs, 3, "padding", 0)))
    if name == "lp_pool2d":
        kernel = _pair(_arg(args, kwargs, 2, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 3, "stride", None), kernel)
        return _window(rf, hw_in, hw_out, kernel, stride, (0, 0))
    if name in (
        "adaptive_avg_pool2d",
        "adaptive_max_pool2d",
        "_adaptive_max_pool2d",
        "adaptive_max_pool2d_with_indices",
    ):
        return _adaptive(rf, hw_in, hw_out)
    if name == "pad":
        return _padded(rf, args, kwargs, x, out)
    if name == "pixel_unshuffle":  # space-to-depth: an r x r window with stride r
        r = int(_arg(args, kwargs, 1, "downscale_factor", 1))
        return _window(rf, hw_in, hw_out, (r, r), (r, r), (0, 0))
    if name == "pixel_shuffle":  # depth-to-space (Shi et al. 2016): output unit o is input unit o // r
        r = int(_arg(args, kwargs, 1, "upscale_factor", 1))
        return _resampled(rf, hw_in, hw_out, lambda a, n, m: [[o // r] for o in range(m)])
    if name == "conv_transpose2d":
        weight = _arg(args, kwargs, 1, "weight", None)
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        stride = _pair(_arg(args, kwargs, 3, "stride", 1))
        padding = _pair(_arg(args, kwargs, 4, "padding", 0))
        dilation = _pair(_arg(args, kwargs, 7, "dilation", 1))
        return _resampled(
            rf, hw_in, hw_out, lambda a, n, m: _transpose_taps(n, m, kernel[a], stride[a], padding[a], dilation[a])
        )
    if name in ("interpolate", "upsample"):
        return _resampled(rf, hw_in, hw_out, lambda a, n, m: _interpolate_taps(args, kwargs, a, n, m))
    raise KeyError(name)


def _window_args(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """(kernel, stride, padding, dilation, ceil_mode) of a sliding-window op, or None."""
    if name == "conv2d":
        weight = _arg(args, kwargs, 1, "weight", None)
        kernel = (int(weight.shape[-2]), int(weight.shape[-1]))
        pad = _arg(args, kwargs, 4, "padding", 0)
        if isinstance(pad, str):  # 'same' fits by construction; 'valid' is no padding
            return (
                None
                if pad == "same"
                else (
                    kernel,
                    _pair(_arg(args, kwargs, 3, "stride", 1)),
                    (0, 0),
                    _pair(_arg(args, kwargs, 5, "dilation", 1)),
                    False,
                )
            )
        return (
            kernel,
            _pair(_arg(args, kwargs, 3, "stride", 1)),
            _pair(pad),
            _pair(_arg(args, kwargs, 5, "dilation", 1)),
            False,
        )
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        return (
            kernel,
            _pair(_arg(args, kwargs, 2, "stride", None), kernel),
            _pair(_arg(args, kwargs, 3, "padding", 0)),
            _pair(_arg(args, kwargs, 4, "dilation", 1)),
            bool(_arg(args, kwargs, 5, "ceil_mode", False)),
        )
    if name == "avg_pool2d":
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        return (
            kernel,
            _pair(_arg(args, kwargs, 2, "stride", None), kernel),
            _pair(_arg(args, kwargs, 3, "padding", 0)),
            (1, 1),
            bool(_arg(args, kwargs, 4, "ceil_mode", False)),
        )
    return None


def window_fit(
    name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor, out: torch.Tensor
) -> str | None:
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
            parts.append(
                f"({hw_in[a]} - {f} + 2*{padding[a]})/{stride[a]} + 1 = {round(value, 2):g}: "
                f"does not fit, {how} to {hw_out[a]}"
            )
        else:
            parts.append("")
    if not any(parts):
        return None
    if parts[0] == parts[1]:
        return parts[0]
    return "; ".join(f"{axis}: {p}" for axis, p in zip("HW", parts) if p)


def _image_axis(dim: Any, ndim: int) -> int | None:
    """0 (rows) or 1 (columns) where ``dim`` is one of a map's two image axes, else None."""
    d = int(dim) % ndim
    return d - (ndim - 2) if d >= ndim - 2 else None


def _keeps_image_axes(name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor) -> bool:
    """Whether a view-like operation leaves the two image axes where they were."""
    nd = x.ndim
    if name in ("transpose", "swapaxes"):
        dims = [_arg(args, kwargs, 1, "dim0", 0), _arg(args, kwargs, 2, "dim1", 0)]
        return all(_image_axis(d, nd) is None for d in dims) or int(dims[0]) % nd == int(dims[1]) % nd
    if name == "permute":
        order = (
            args[1:] if len(args) > 1 and not isinstance(args[1], (list, tuple)) else _arg(args, kwargs, 1, "dims", ())
        )
        return [int(d) % nd for d in order][-2:] == [nd - 2, nd - 1]
    if name == "movedim":
        src = _arg(args, kwargs, 1, "source", ())
        dst = _arg(args, kwargs, 2, "destination", ())
        moved = [
            *(src if isinstance(src, (list, tuple)) else [src]),
            *(dst if isinstance(dst, (list, tuple)) else [dst]),
        ]
        return all(_image_axis(d, nd) is None for d in moved)
    if name == "__getitem__":
        index = args[1] if len(args) > 1 else ()
        index = index if isinstance(index, tuple) else (index,)
        if Ellipsis in index:
            after = index[index.index(Ellipsis) + 1 :]
            return all(i is None or i == slice(None) for i in after)
        used = [i for i in index if i is not None]
        return len(used) <= nd - 2 or all(i == slice(None) for i in used[nd - 2 :])
    return True


def _along_axis(
    name: str, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor, rf: ReceptiveField, out: torch.Tensor
) -> ReceptiveField | None:
    """Operations that keep the map's size but may mix along its image axes: the field, or
    None where they act on the channels only (then they are elementwise for the field)."""
    n_hw = _hw(x)
    if name in WHOLE_AXIS | CUMULATIVE:
        dim = _arg(args, kwargs, 1, "dim", None)
        if dim is None:  # softmax's implicit dim: 0 for 0-, 1- and 3-D input, else 1 (PyTorch)
            dim = 0 if x.ndim in (0, 1, 3) else 1
        a = _image_axis(dim, x.ndim)
        if a is None:
            return None
        n = n_hw[a]
        taps = [list(range(n))] * n if name in WHOLE_AXIS else [list(range(i + 1)) for i in range(n)]
        axes = [_axis(rf, b) for b in range(2)]
        axes[a] = _gather(axes[a], n, taps)
        return _build(axes, rf.global_context)
    if name in ("roll", "flip"):
        if name == "roll":
            shifts, dims = _arg(args, kwargs, 1, "shifts", 0), _arg(args, kwargs, 2, "dims", None)
            if dims is None or (isinstance(dims, (list, tuple)) and not dims):
                raise _Unknown  # a roll of the flattened tensor
            pairs = list(
                zip(
                    shifts if isinstance(shifts, (list, tuple)) else [shifts],
                    dims if isinstance(dims, (list, tuple)) else [dims],
                )
            )
        else:
            dims = _arg(args, kwargs, 1, "dims", ())
            pairs = [(None, d) for d in (dims if isinstance(dims, (list, tuple)) else [dims])]
        axes = [_axis(rf, b) for b in range(2)]
        for shift, d in pairs:
            a = _image_axis(d, x.ndim)
            if a is None:
                continue
            n = n_hw[a]
            taps = [[(i - int(shift)) % n] for i in range(n)] if name == "roll" else [[n - 1 - i] for i in range(n)]
            axes[a] = _gather(axes[a], n, taps)
        return _build(axes, rf.global_context)
    # normalisations whose statistics come from the map itself make every unit depend on
    # every pixel the statistics cover (Wu and He 2018, Fig. 2: GroupNorm, InstanceNorm and
    # LayerNorm take them over H and W): flagged as global context, as SE's squeeze is
    if name == "group_norm":
        return ReceptiveField(rf.size, rf.jump, rf.start, True, rf.windows)
    if name == "instance_norm":
        return (
            ReceptiveField(rf.size, rf.jump, rf.start, True, rf.windows)
            if _arg(args, kwargs, 5, "use_input_stats", True)
            else None
        )
    if name == "batch_norm":
        return (
            ReceptiveField(rf.size, rf.jump, rf.start, True, rf.windows)
            if _arg(args, kwargs, 5, "training", False)
            else None
        )
    if name in ("layer_norm", "rms_norm"):
        shape = _arg(args, kwargs, 1, "normalized_shape", ())
        covered = len(shape) if isinstance(shape, (list, tuple, torch.Size)) else 1
        if covered >= 2:
            return ReceptiveField(rf.size, rf.jump, rf.start, True, rf.windows)
        axes = [_axis(rf, 0), _gather(_axis(rf, 1), n_hw[1], [list(range(n_hw[1]))] * n_hw[1])]
        return _build(axes, rf.global_context)  # over the last axis only: each unit sees its whole row
    return None


def _as_map(rf: ReceptiveField) -> ReceptiveField:
    """A vector whose elements all see the same pixels, broadcast into a map: every unit sees them."""
    if rf.flat is not None:
        raise _Unknown
    return ReceptiveField(rf.size, (0, 0), rf.start, rf.global_context, rf.windows)


def _unflatten(rf: ReceptiveField) -> ReceptiveField:
    if rf.flat is None:
        return rf
    return _collapse(ReceptiveField(rf.size, rf.jump, rf.start, rf.global_context, rf.windows), rf.flat)


def _on_vectors(name: str, known: list[tuple[torch.Tensor, ReceptiveField]], out: torch.Tensor) -> ReceptiveField:
    """No input is a map: vectors made from flattened maps, or whose elements all see the same."""
    flats = {rf.flat for _, rf in known if rf.flat is not None}
    if flats and name in ELEMENTWISE and len(flats) == 1:
        flat = flats.pop()
        if out.ndim >= 3 and _hw(out) == flat and math.prod(out.shape[1:]) == math.prod(known[0][0].shape[1:]):
            # the vector viewed back as its map: each unit keeps its field
            setattr(out, _MAP, True)
            return _merged([rf if rf.flat else _as_map(rf) for _, rf in known], flat, None)
        if math.prod(out.shape[1:]) == next(math.prod(t.shape[1:]) for t, rf in known if rf.flat):
            merged = _merged([rf if rf.flat else _as_map(rf) for _, rf in known], flat, None)
            return ReceptiveField(merged.size, merged.jump, merged.start, merged.global_context, merged.windows, flat)
        raise _Unknown
    if flats and name not in VECTOR_MIXING:
        raise _Unknown
    # every element of the inputs now reaches every element of the output (a fully connected
    # layer, a softmax over the classes), or all elements of each input see the same pixels
    return _merged_whole([_unflatten(rf) for _, rf in known])


def _merged(fields: Sequence[ReceptiveField], hw: tuple[int, int], glob: bool | None) -> ReceptiveField:
    g = any(f.global_context for f in fields) or bool(glob)
    return _build([_merge_axis([_axis(f, a) for f in fields], hw[a]) for a in range(2)], g)


def _merged_whole(fields: Sequence[ReceptiveField]) -> ReceptiveField:
    """The union of fields each of which every element of its tensor shares."""
    return fields[0] if len(fields) == 1 else _merged(fields, (1, 1), None)


def _on_maps(
    name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    known: list[tuple[torch.Tensor, ReceptiveField]],
    out: torch.Tensor,
) -> ReceptiveField:
    """Some input is a map. The field of ``out`` (a map or, flattened or pooled, a vector)."""
    maps = [(t, rf) for t, rf in known if _is_map(t)]
    out_map = out.ndim >= 3
    x, rf = next(((t, f) for t, f in maps if out_map and _hw(t) == _hw(out)), maps[0])
    hw = _hw(x)
    big = [(t, f) for t, f in maps if _hw(t) != (1, 1)]
    if out_map and _hw(out) == hw and all(_hw(t) == hw for t, _ in big):
        if name in ELEMENTWISE or name in REDUCTIONS or name in CUMULATIVE | WHOLE_AXIS | {"roll", "flip"}:
            if name in ELEMENTWISE and not _keeps_image_axes(name, args, kwargs, x):
                raise _Unknown
            if name in REDUCTIONS and any(_image_axis(d, x.ndim) is not None for d in _dims(args, kwargs)):
                raise _Unknown
            special = _along_axis(name, args, kwargs, x, rf, out) if len(maps) == 1 else None
            if special is not None:
                return special
            # branches meet unit by unit; a 1x1 map or a vector broadcast over the map (SE's
            # excitation) reaches every unit from the whole input: global context
            if hw == (1, 1):
                return _merged([f if _is_map(t) else _unflatten(f) for t, f in known], hw, None)
            same = [f for t, f in maps if _hw(t) == hw]
            return _merged(same, hw, len(same) < len(known))
        raise _Unknown
    if not out_map or _hw(out) == (1, 1):
        if name in REDUCTIONS or (name == "flatten" and hw == (1, 1)):
            return _merged_whole([_collapse(f, _hw(t)) if _is_map(t) else _unflatten(f) for t, f in known])
        if (
            name in ("flatten", "view", "reshape", "squeeze", "view_as", "reshape_as")
            and len(known) == 1
            and not out_map
            and math.prod(out.shape[1:]) == math.prod(x.shape[1:])
        ):
            # each element of the vector is one unit of one map: it keeps that unit's field
            return rf if hw == (1, 1) else ReceptiveField(rf.size, rf.jump, rf.start, rf.global_context, rf.windows, hw)
        if name == "linear" and not out_map:
            return _merged_whole([_collapse(f, _hw(t)) if _is_map(t) else _unflatten(f) for t, f in known])
    if name == "linear" and out_map and _hw(out)[0] == hw[0] and len(maps) == 1:
        # a fully connected layer over a map's last axis (its columns): each unit sees its row
        axes = [_axis(rf, 0), _gather(_axis(rf, 1), hw[1], [list(range(hw[1]))] * _hw(out)[1])]
        return _build(axes, rf.global_context)
    raise _Unknown


def _dims(args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
    dim = _arg(args, kwargs, 1, "dim", None)
    if dim is None or isinstance(dim, torch.dtype):
        return []
    return list(dim) if isinstance(dim, (list, tuple)) else [dim]


class ReceptiveFieldMode(TorchFunctionMode):
    """While active, every tensor computed from a :func:`mark_input`-ed tensor carries its field.

    Read a tensor's field with :func:`field_of`. Operations whose effect on the image axes is
    not known give ``None`` downstream rather than a wrong number. ``on_note`` (optional) is
    called with :func:`window_fit`'s sentence for every convolution or pooling whose window
    does not fit.
    """

    def __init__(self, on_note: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.on_note = on_note
        #: the operations (by name, in order) that made a known field unknown
        self.lost: list[str] = []

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = [t for t in _tensors(out) if not isinstance(t, torch.nn.Parameter)]
        if func is torch.Tensor.__setitem__ and any(hasattr(t, _ATTR) for t in _tensors(args[1:])):
            # a map written into another tensor in place (a shift made with zeros and a slice):
            # where it lands is not modelled, so the target's field becomes unknown
            setattr(args[0], _ATTR, None)
            if "__setitem__" not in self.lost:
                self.lost.append("__setitem__")
        if not outs:
            return out
        # tensors carrying the attribute derive from the input (None: their field was lost);
        # the others are weights and constants, which have no receptive field
        known = [(t, field_of(t)) for t in _tensors((args, kwargs)) if hasattr(t, _ATTR)]
        name = getattr(func, "__name__", "")
        if not known or name in FROM_SHAPE:
            return out
        if self.on_note is not None and name in SPATIAL_OPS:
            note = window_fit(name, args, kwargs, known[0][0], outs[0])
            if note is not None:
                self.on_note(note)
        any_map = any(_is_map(t) for t, _ in known)
        for o in outs:
            setattr(o, _MAP, o.ndim >= 3 and (any_map or name in SPATIAL_OPS))
            # an unknown input makes the output unknown
            complete = [(t, rf) for t, rf in known if rf is not None]
            rf_out = self._field(name, args, kwargs, complete, o, any_map) if len(complete) == len(known) else None
            if rf_out is None and len(complete) == len(known) and name not in self.lost:
                self.lost.append(name)
            setattr(o, _ATTR, rf_out)
        return out

    @staticmethod
    def _field(
        name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        known: list[tuple[torch.Tensor, ReceptiveField]],
        o: torch.Tensor,
        any_map: bool,
    ) -> ReceptiveField | None:
        try:
            if name in SPATIAL_OPS:
                x, rf = next(((t, f) for t, f in known if _is_map(t)), known[0])
                return _spatial_op(name, args, kwargs, x, rf if _is_map(x) else _as_map(rf), o)
            return _on_maps(name, args, kwargs, known, o) if any_map else _on_vectors(name, known, o)
        except _Unknown:
            return None


def receptive_field(
    model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None, *, layer: str | None = None
) -> ReceptiveField:
    """The receptive field of ``layer``'s output (a module name; its first call where it is called
    more than once), or of the final feature map (``forward_features``'s, or any module's output map).

    Computed on the real graph (branches, residual and dense connections included: the
    largest path wins), per axis: size, jump (effective stride) and start offset, as in
    Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
    E.g. ``receptive_field("vgg16", layer="features.30").size == (212, 212)``.
    """
    # the instrumented forward runs this module's mode: imported here, not at the top
    from .trace import layer_named, resolve_input_size, resolve_model, trace

    model = resolve_model(model_or_name)
    tr = trace(model, resolve_input_size(model, input_size))
    if layer is None:
        rf = tr.feature_field
        where = "the final feature map"
    else:
        layer_named(model, layer)
        if layer not in tr.shapes:
            raise InvalidArgumentError(f"layer '{layer}' does not run in eval mode, so it has no output")
        rf, where = tr.fields[layer], f"'{layer}'"
    if rf is None:
        ops = ", ".join(tr.rf_lost_at) or "an operation"
        raise InvalidArgumentError(
            f"the receptive field of {where} is unknown: the analysis does not model what "
            f"{ops} does to the image axes (the table's rows show RF ? from there on)"
        )
    return rf
