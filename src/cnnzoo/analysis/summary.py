"""The per-layer table of any module: output shapes, neurons, parameters, MACs, receptive fields, depth."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from ..limits import check_count
from .depth import is_weight_layer
from .flops import GFLOPS_DEFINITION
from .receptive import ReceptiveField
from .trace import Call, Trace, resolve_input_size, resolve_model, trace

__all__ = ["summary", "ModelSummary", "LayerInfo"]


@dataclass
class LayerInfo:
    """One row of a :class:`ModelSummary`: one call of a module, its output and its cost.

    ``params`` and ``macs`` include the module's submodules; the rows with ``leaf=True``
    (no row of theirs below them) partition the model, so their sums are the totals. A
    module called several times (a shared ReLU) has a row per call (``call`` of ``calls``),
    its parameters counted on the first; one that never runs in eval mode (GoogLeNet's
    auxiliary heads) has ``call=0`` and no output. ``receptive_field`` describes the output
    map (None where unknown or not run); ``neurons`` is the number of values in the output
    of one image; ``weight_layers`` the weight layers on the longest path from the input
    to this output (the depth the papers count); ``notes`` says where a window does not fit.
    """

    name: str
    type: str
    depth: int
    output_shape: tuple[int, ...] | None
    params: int
    trainable_params: int
    macs: int
    receptive_field: ReceptiveField | None
    leaf: bool = True
    calls: int = 1
    call: int = 1
    neurons: int | None = None
    weight_layers: int | None = None
    notes: list[str] = field(default_factory=list)
    kind: str = "other"  #: weight, pool, norm, activation, container or other

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        d["receptive_field"] = self.receptive_field.to_dict() if self.receptive_field else None
        return d

    @property
    def label(self) -> str:
        """``name (Type)``, with ``[call i/n]`` for a module called more than once."""
        text = f"{self.name or '(model)'} ({self.type})"
        return text + (f" [call {self.call}/{self.calls}]" if self.calls > 1 else "")


def _count(params: Sequence[nn.Parameter]) -> tuple[int, int]:
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _unique_params(module: nn.Module) -> dict[int, nn.Parameter]:
    return {id(p): p for p in module.parameters()}


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{int(n)}"


_POOLS = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.SiLU,
    nn.GELU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Softmax,
    nn.PReLU,
)


def _kind(module: nn.Module) -> str:
    if isinstance(module, _NORMS):
        return "norm"
    if is_weight_layer(module):
        return "weight"
    if isinstance(module, _POOLS):
        return "pool"
    if isinstance(module, _ACTIVATIONS):
        return "activation"
    return "container" if next(iter(module.children()), None) is not None else "other"


def _fmt_shape(shape: Sequence[int] | None) -> str:
    return "x".join(map(str, shape)) if shape is not None else "-"


@dataclass
class ModelSummary:
    """The per-layer table of a model; ``print()`` it, or ``to_dict()``/``to_json()`` it.

    Made by :func:`summary`. ``totals`` holds the parameter counts (trainable and frozen;
    ``inference_params`` and ``eval_skipped_params`` for the modules that never run in eval
    mode, GoogLeNet's auxiliary classifiers), the ``depth`` as the papers count it (weight
    layers on the longest input-to-output path), MACs and GFLOPs (torchvision's convention,
    see ``gflops_definition``), activation memory for one image, the model size in MB
    (2**20 bytes) and the final feature map's receptive field (Araujo et al., Distill 2019).
    """

    model: str
    input_size: tuple[int, ...]
    layers: list[LayerInfo]
    totals: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "layers": [row.to_dict() for row in self.layers],
            "totals": self.totals,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        head = ["Layer (type)", "Output shape", "Neurons", "Params", "MACs", "RF", "Jump", "Start"]
        noted = any(r.notes for r in self.layers)
        rows = []
        for r in self.layers:
            rf = r.receptive_field
            if rf is None:
                rf_cols = ("?" if r.output_shape is not None else "-", "", "")
            else:
                rf_cols = (
                    ("≤" if not rf.exact else "")
                    + _pair_str(rf.size)
                    + ("*" if rf.global_context else "")
                    + ("†" if rf.flat is not None else ""),
                    ("~" if not rf.exact else "") + _pair_str(rf.jump),
                    _pair_str(rf.start),
                )
            params = "shared" if r.call > 1 and r.params == 0 and r.kind == "weight" else f"{r.params:,}"
            rows.append(
                [
                    "  " * (r.depth - 1) + r.label,
                    _fmt_shape(r.output_shape),
                    f"{r.neurons:,}" if r.neurons is not None else "-",
                    params,
                    _human(r.macs) if r.macs else "-",
                    *rf_cols,
                ]
                + (["; ".join(r.notes)] if noted else [])
            )
        if noted:
            head.append("Note")
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]

        def line(cells: Sequence[str]) -> str:
            first = str(cells[0]).ljust(widths[0])
            middle = [str(c).rjust(w) for c, w in zip(cells[1:8], widths[1:8])]
            return "  ".join([first, *middle, *cells[8:]]).rstrip()

        sep = "-" * max(len(line(r)) for r in [head, *rows])
        return "\n".join(
            [
                f"{self.model}: input {_fmt_shape(self.input_size)}",
                sep,
                line(head),
                sep,
                *(line(r) for r in rows),
                sep,
                *self._footer(),
            ]
        )

    def _footer(self) -> list[str]:
        t = self.totals
        out = [
            f"Parameters: {t['params']:,} (trainable {t['trainable_params']:,}, frozen "
            f"{t['frozen_params']:,}); buffers {t['buffers']:,} values"
        ]
        if t["eval_skipped_params"]:
            out.append(
                f"  of which {t['inference_params']:,} run in inference and {t['eval_skipped_params']:,} "
                f"only in training ({', '.join(t['eval_skipped_modules'])}: not run in eval mode)"
            )
        layers = "weight layer" + ("" if t["depth"] == 1 else "s")
        out += [
            f"Depth: {t['depth']} {layers} on the longest path from input to output (convolutions and "
            f"fully connected layers, as the papers count)",
            f"MACs: {t['macs']:,} = {t['gflops']:.3f} GFLOPs (torchvision's convention: one "
            f"multiply-add = one FLOP; hardware FLOPs = 2 x MACs = {2 * t['macs'] / 1e9:.3f} G)",
            f"Activations for one image: {t['activation_mb']:.2f} MB (outputs of the leaf layers)",
            f"Model size: {t['model_size_mb']:.2f} MB (parameters + buffers, 1 MB = 2**20 bytes)",
            f"Output: {_fmt_shape(t['output_shape'] or ())}",
        ]
        fm = t["final_feature_map"]
        if fm is not None:
            rf = fm["receptive_field"]
            rf_text = str(ReceptiveField.from_dict(rf)) if rf else "unknown"
            out.append(f"Final feature map ({fm['name']}): {_fmt_shape(fm['shape'])}, receptive field {rf_text}")
        fields = [r.receptive_field for r in self.layers if r.receptive_field is not None]
        if any(rf.global_context for rf in fields):
            out.append(
                "* a global path (squeeze-and-excitation's pooling, the statistics of GroupNorm, "
                "InstanceNorm or LayerNorm) also feeds these units, so each depends on the whole "
                "input; RF is the convolutional path's field"
            )
        if any(not rf.exact for rf in fields):
            out.append(
                "≤ the units' fields differ (adaptive pooling that is not a fixed window, upsampling, "
                "cumsum or roll along an image axis): RF is the largest, a true bound, Jump the mean; "
                "--json gives every unit's exact window (receptive_field.windows)"
            )
        if any(rf.flat is not None for rf in fields):
            out.append(
                "† a flattened map: each element keeps the field of its own unit (RF, Jump and Start "
                "of the map); a layer that mixes the elements sees the union"
            )
        return out


def _pair_str(pair: tuple[float, float]) -> str:
    a, b = (int(v) if float(v).is_integer() else round(v, 2) for v in pair)
    return f"{a}" if a == b else f"{a}x{b}"


def _display_order(tr: Trace, modules: dict[str, nn.Module], depth: int) -> list[tuple[str, Call | None]]:
    """(module, call) rows up to ``depth`` in the order the calls began; a container never called
    itself goes just before its first descendant that ran, and a module that never ran at all
    (GoogLeNet's auxiliary heads in eval mode) at the end, with no call."""
    rows: list[tuple[str, Call | None]] = [(c.name, c) for c in tr.records]
    for n in modules:
        if n and n not in tr.calls:
            first = next((i for i, (o, _) in enumerate(rows) if o.startswith(n + ".")), None)
            if first is not None:
                rows.insert(first, (n, None))
    seen = {n for n, _ in rows}
    rows += [(n, None) for n in modules if n and n not in seen]
    return [(n, c) for n, c in rows if n.count(".") < depth]


def _descendant_notes(tr: Trace, position: dict[int, int], call: Call) -> int:
    """How many calls inside ``call`` (not shown at this depth) found a window that does not fit."""
    i, prefix, count = position[id(call)] + 1, call.name + ".", 0
    while i < len(tr.records) and tr.records[i].name.startswith(prefix):
        count += bool(tr.records[i].notes)
        i += 1
    return count


def _rows(tr: Trace, model: nn.Module, depth: int) -> list[LayerInfo]:
    modules = dict(model.named_modules())
    shown = _display_order(tr, modules, depth) or [("", tr.root)]  # a single layer: its own row
    names = [n for n, _ in shown]
    position = {id(c): i for i, c in enumerate(tr.records)}

    def macs(n: str) -> int:
        # a container whose children are called one by one (VGG's classifier sliced in
        # forward_head) is never called itself: its MACs are its children's
        if n in tr.macs_by_module or n in tr.calls:
            return tr.macs_by_module.get(n, 0)
        prefix = n + "."
        return sum(macs(c) for c in modules if c.startswith(prefix) and "." not in c[len(prefix) :])

    layers = []
    previous: tuple[Any, Any] = (None, None)
    for n, call in shown:
        mod = modules[n]
        leaf = not any(o.startswith(n + ".") for o in names) if n else True
        total, trainable = _count(list(_unique_params(mod).values())) if call is None or call.index == 1 else (0, 0)
        notes = list(call.notes) if call is not None else []
        if call is not None and n and leaf and (k := _descendant_notes(tr, position, call)):
            notes.append(
                f"{k} window{'s' if k > 1 else ''} inside do{'' if k > 1 else 'es'} not fit "
                f"(--depth {depth + 1} shows where)"
            )
        rf = call.rf if call is not None else None
        if rf is not None and not rf.exact and rf.windows != previous:
            notes.append(f"windows per unit: {rf.windows_text()}")
        if rf is not None:
            previous = rf.windows
        if call is None and n not in tr.calls and not any(o.startswith(n + ".") for o in tr.calls):
            notes.append("not run in eval mode (training only)")
        shape = call.shape if call is not None else None
        layers.append(
            LayerInfo(
                n,
                type(mod).__name__,
                n.count(".") + 1 if n else 1,
                shape,
                total,
                trainable,
                call.macs if call is not None else macs(n),
                call.rf if call is not None else None,
                leaf,
                tr.calls.get(n, 0) if n else 1,
                call.index if call is not None else 0,
                math.prod(shape) if shape is not None else None,
                call.weight_layers if call is not None else None,
                notes,
                _kind(mod),
            )
        )
    return layers


def _skipped_in_eval(tr: Trace, model: nn.Module) -> tuple[list[str], set[int]]:
    """The outermost modules that never ran (training-only heads) and the parameters only they hold."""
    ran = {n for n in tr.calls} | {""}
    used = {id(p) for n, m in model.named_modules() if n in ran for p in m.parameters(recurse=False)}
    idle = [n for n, _ in model.named_modules() if n and n not in ran and not any(o.startswith(n + ".") for o in ran)]
    outer = [n for n in idle if not any(n.startswith(o + ".") for o in idle)]
    unused = {id(p) for n in outer for p in model.get_submodule(n).parameters()} - used
    return [n for n in outer if any(id(p) in unused for p in model.get_submodule(n).parameters())], unused


def summary(
    model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None, *, depth: int = 2
) -> ModelSummary:
    """Per-layer table: output shape, neurons, parameters, MACs and receptive field, then totals.

    ``model_or_name`` is any module (a registered network, a block, a single layer such as
    ``nn.Conv2d(1, 1, 3, stride=3)``) or a registered name (built on the meta device, without
    weights: nothing is computed or allocated). ``input_size`` is (C, H, W), or (N, C, H, W)
    as torchinfo takes it (default: the model's ``pretrained_cfg`` input size). ``depth`` is
    the module nesting shown (1: the model's children). A row notes where ``(N - F + 2P)/S + 1``
    is not a whole number (the window does not fit). Receptive fields follow Araujo et al.,
    "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019; GFLOPs follow torchvision (see
    :mod:`~cnnzoo.analysis.flops`); the depth counts weight layers as the papers do
    (:mod:`~cnnzoo.analysis.depth`).
    """
    check_count("depth", depth)
    model = resolve_model(model_or_name)
    size = resolve_input_size(model, input_size)
    tr = trace(model, size)
    layers = _rows(tr, model, depth)
    modules = dict(model.named_modules())
    # parameters held directly by a shown container (or by the model itself) get a row of
    # their own, so that the leaf rows always add up to the model's total
    covered = {pid for r in layers if r.leaf for pid in _unique_params(modules[r.name])}
    for owner, mod in modules.items():
        own = [p for p in mod.parameters(recurse=False) if id(p) not in covered]
        if own:
            covered.update(id(p) for p in own)
            total, trainable = _count(own)
            layers.append(
                LayerInfo(
                    f"{owner or '(model)'} (own parameters)",
                    "Parameter",
                    owner.count(".") + 2 if owner else 1,
                    None,
                    total,
                    trainable,
                    0,
                    None,
                )
            )
    all_params = list(_unique_params(model).values())
    total, trainable = _count(all_params)
    skipped_modules, skipped = _skipped_in_eval(tr, model)
    skipped_count = sum(p.numel() for p in all_params if id(p) in skipped)
    buffers = list(model.buffers())
    nbytes = sum(p.numel() * p.element_size() for p in all_params + buffers)
    totals = {
        "params": total,
        "trainable_params": trainable,
        "frozen_params": total - trainable,
        "inference_params": total - skipped_count,
        "eval_skipped_params": skipped_count,
        "eval_skipped_modules": skipped_modules,
        "buffers": sum(b.numel() for b in buffers),
        "depth": tr.depth,
        "macs": tr.macs,
        "gflops": tr.macs / 1e9,
        "gflops_definition": GFLOPS_DEFINITION,
        "macs_by_op": tr.macs_by_op,
        "activation_bytes": tr.activation_bytes,
        "activation_mb": tr.activation_bytes / 2**20,
        "model_size_mb": nbytes / 2**20,
        "output_shape": list(tr.output_shape) if tr.output_shape else None,
        "final_feature_map": None
        if tr.feature_shape is None
        else {
            "name": tr.feature_name,
            "shape": list(tr.feature_shape),
            "receptive_field": tr.feature_field.to_dict() if tr.feature_field else None,
        },
    }
    return ModelSummary(_model_name(model_or_name, model), size, layers, totals)


def _model_name(model_or_name: nn.Module | str, model: nn.Module) -> str:
    if isinstance(model_or_name, str):
        return model_or_name
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)
