"""The per-layer table of a network: output shapes, parameters, MACs and receptive fields."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ..errors import InvalidArgumentError
from .flops import GFLOPS_DEFINITION
from .receptive import ReceptiveField
from .trace import Trace, resolve_input_size, resolve_model, trace

__all__ = ["summary", "ModelSummary", "LayerInfo"]


@dataclass
class LayerInfo:
    """One row of a :class:`ModelSummary`: a module, its output and its cost.

    ``params`` and ``macs`` include the module's submodules; the rows with ``leaf=True``
    (no row of theirs below them) partition the model, so their sums are the totals.
    ``receptive_field`` describes the module's output map (None where unknown or not run).
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        d["receptive_field"] = self.receptive_field.to_dict() if self.receptive_field else None
        return d


def _count(params: Sequence[nn.Parameter]) -> tuple[int, int]:
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _unique_params(module: nn.Module) -> dict[int, nn.Parameter]:
    return {id(p): p for p in module.parameters()}


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{int(n)}"


@dataclass
class ModelSummary:
    """The per-layer table of a model; ``print()`` it, or ``to_dict()``/``to_json()`` it.

    Made by :func:`summary`. ``totals`` holds the parameter counts (trainable and frozen),
    MACs and GFLOPs (torchvision's convention, see ``gflops_definition``), activation
    memory for one image, the model size in MB (2**20 bytes) and the final feature map's
    receptive field (Araujo et al., Distill 2019).
    """

    model: str
    input_size: tuple[int, int, int]
    layers: list[LayerInfo]
    totals: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_size": list(self.input_size),
                "layers": [row.to_dict() for row in self.layers], "totals": self.totals}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        head = ("Layer (type)", "Output shape", "Params", "MACs", "RF", "Jump", "Start")
        rows = []
        for r in self.layers:
            shape = "x".join(map(str, r.output_shape)) if r.output_shape is not None else "-"
            rf = r.receptive_field
            if rf is None:
                rf_cols = ("?" if r.output_shape is not None else "-", "", "")
            else:
                rf_cols = (_pair_str(rf.size) + ("*" if rf.global_context else ""),
                           _pair_str(rf.jump), _pair_str(rf.start))
            rows.append(("  " * (r.depth - 1) + f"{r.name} ({r.type})", shape, f"{r.params:,}",
                         _human(r.macs) if r.macs else "-", *rf_cols))
        widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
        sep = "-" * (sum(widths) + 2 * (len(widths) - 1))

        def line(cells: Sequence[str]) -> str:
            first = str(cells[0]).ljust(widths[0])
            return "  ".join([first] + [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])])

        t = self.totals
        fm = t["final_feature_map"]
        out = [f"{self.model}: input {'x'.join(map(str, self.input_size))}", sep, line(head), sep,
               *(line(r) for r in rows), sep,
               f"Parameters: {t['params']:,} (trainable {t['trainable_params']:,}, frozen "
               f"{t['frozen_params']:,}); buffers {t['buffers']:,} values",
               f"MACs: {t['macs']:,} = {t['gflops']:.3f} GFLOPs (torchvision's convention: one "
               f"multiply-add = one FLOP; hardware FLOPs = 2 x MACs = {2 * t['macs'] / 1e9:.3f} G)",
               f"Activations for one image: {t['activation_mb']:.2f} MB (outputs of the leaf layers)",
               f"Model size: {t['model_size_mb']:.2f} MB (parameters + buffers, 1 MB = 2**20 bytes)",
               f"Output: {'x'.join(map(str, t['output_shape'] or ()))}"]
        if fm is not None:
            rf = fm["receptive_field"]
            rf_text = str(ReceptiveField(tuple(rf["size"]), tuple(rf["jump"]), tuple(rf["start"]),
                                         rf["global_context"])) if rf else "unknown"
            out.append(f"Final feature map ({fm['name']}): {'x'.join(map(str, fm['shape']))}, "
                       f"receptive field {rf_text}")
        if any(r.receptive_field and r.receptive_field.global_context for r in self.layers):
            out.append("* a global pooling path (squeeze-and-excitation) also feeds these units, so "
                       "each depends on the whole input; RF is the convolutional path's field")
        return "\n".join(out)


def _pair_str(pair: tuple[float, float]) -> str:
    a, b = (int(v) if float(v).is_integer() else round(v, 2) for v in pair)
    return f"{a}" if a == b else f"{a}x{b}"


def _display_order(tr: Trace, modules: dict[str, nn.Module], depth: int) -> list[str]:
    """Modules up to ``depth`` in the order they ran; one never called itself goes just before
    its first descendant that ran, and one that never ran at all (GoogLeNet's auxiliary heads
    in eval mode) at the end."""
    order = list(tr.order)
    for n in modules:
        if n and n not in tr.calls:
            first = next((i for i, o in enumerate(order) if o.startswith(n + ".")), None)
            if first is not None:
                order.insert(first, n)
    order += [n for n in modules if n and n not in order]
    return [n for n in order if n.count(".") < depth]


def summary(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None, *,
            depth: int = 2) -> ModelSummary:
    """Per-layer table: output shape, parameters, MACs and receptive field, then totals.

    ``model_or_name`` is a module or a registered name (built on the meta device, without
    weights: nothing is computed or allocated). ``input_size`` is (C, H, W) (default: the
    model's ``pretrained_cfg`` input size). ``depth`` is the module nesting shown (1: the
    model's children). Receptive fields follow Araujo et al., "Computing Receptive Fields of
    Convolutional Neural Networks", Distill 2019; GFLOPs follow torchvision (see module doc).
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidArgumentError(f"depth must be an integer >= 1, got {depth!r}")
    model = resolve_model(model_or_name)
    size = resolve_input_size(model, input_size)
    tr = trace(model, size)
    modules = dict(model.named_modules())
    shown = _display_order(tr, modules, depth)

    def macs(n: str) -> int:
        # a container whose children are called one by one (VGG's classifier sliced in
        # forward_head) is never called itself: its MACs are its children's
        if n in tr.macs_by_module or n in tr.calls:
            return tr.macs_by_module.get(n, 0)
        prefix = n + "."
        return sum(macs(c) for c in modules if c.startswith(prefix) and "." not in c[len(prefix):])

    layers = []
    for n in shown:
        mod = modules[n]
        total, trainable = _count(list(_unique_params(mod).values()))
        leaf = not any(o.startswith(n + ".") for o in shown)
        layers.append(LayerInfo(n, type(mod).__name__, n.count(".") + 1, tr.shapes.get(n), total, trainable,
                                macs(n), tr.fields.get(n), leaf, tr.calls.get(n, 0)))
    # parameters held directly by a shown container (or by the model itself) get a row of
    # their own, so that the leaf rows always add up to the model's total
    covered = {pid for r in layers if r.leaf for pid in _unique_params(modules[r.name])}
    for owner, mod in modules.items():
        own = [p for p in mod.parameters(recurse=False) if id(p) not in covered]
        if own:
            covered.update(id(p) for p in own)
            total, trainable = _count(own)
            layers.append(LayerInfo(f"{owner or '(model)'} (own parameters)", "Parameter",
                                    owner.count(".") + 2 if owner else 1, None, total, trainable, 0, None))
    all_params = list(_unique_params(model).values())
    total, trainable = _count(all_params)
    buffers = list(model.buffers())
    nbytes = sum(p.numel() * p.element_size() for p in all_params + buffers)
    totals = {
        "params": total, "trainable_params": trainable, "frozen_params": total - trainable,
        "buffers": sum(b.numel() for b in buffers),
        "macs": tr.macs, "gflops": tr.macs / 1e9, "gflops_definition": GFLOPS_DEFINITION,
        "macs_by_op": tr.macs_by_op,
        "activation_bytes": tr.activation_bytes, "activation_mb": tr.activation_bytes / 2**20,
        "model_size_mb": nbytes / 2**20,
        "output_shape": list(tr.output_shape) if tr.output_shape else None,
        "final_feature_map": None if tr.feature_shape is None else {
            "name": tr.feature_name, "shape": list(tr.feature_shape),
            "receptive_field": tr.feature_field.to_dict() if tr.feature_field else None},
    }
    name = model_or_name if isinstance(model_or_name, str) else type(model).__name__
    return ModelSummary(name, size, layers, totals)
