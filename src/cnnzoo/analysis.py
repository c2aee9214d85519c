"""See inside the networks: per-layer summary, receptive fields, FLOPs, saliency, features.

Everything is measured from the module itself, never from a hand-kept formula: one forward
pass (on the meta device when the model allows it, so VGG-16 costs nothing) with forward
hooks for shapes, ``torch.utils.flop_counter.FlopCounterMode`` for the multiply-adds and
:class:`~cnnzoo.receptive.ReceptiveFieldMode` for the receptive fields.

GFLOPs follow torchvision's convention (its weights' ``meta["_ops"]``, e.g. 4.089 for
ResNet-50): the number of multiply-accumulates (MACs) of the convolutions and matrix
products, in billions, i.e. one fused multiply-add counts as one operation. Batch norm,
activations, pooling and additions are not counted (well under 1 % of the total).
``FlopCounterMode`` counts a multiply-add as two FLOPs (the hardware convention), so its
total is halved; hardware FLOPs are ``2 * macs``.

torchvision is imported only inside :func:`features`: ``import cnnzoo`` stays cheap.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import InputSizeError, InvalidArgumentError, suggest
from .receptive import ReceptiveField, ReceptiveFieldMode, field_of, mark_input

__all__ = ["summary", "ModelSummary", "LayerInfo", "receptive_field", "ReceptiveField",
           "count_flops", "FlopCount", "saliency", "features", "stage_names"]

GFLOPS_DEFINITION = ("multiply-accumulates of convolutions and matrix products / 1e9, as "
                     "torchvision's weights meta '_ops' (hardware FLOPs = 2 x MACs)")


# ---------------------------------------------------------------- one instrumented forward
def _resolve_model(model_or_name: nn.Module | str) -> nn.Module:
    if isinstance(model_or_name, nn.Module):
        return model_or_name
    if not isinstance(model_or_name, str):
        raise InvalidArgumentError(f"expected a model or a model name, got {type(model_or_name).__name__}")
    from .factory import create_model, split_model_name

    base, _ = split_model_name(model_or_name)  # a weight tag changes no layer: the architecture suffices
    with torch.device("meta"):
        return create_model(base)


def _input_size(model: nn.Module, input_size: Sequence[int] | int | None) -> tuple[int, int, int]:
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
    return size  # type: ignore[return-value]


class _Probe(nn.Module):
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
            f = self.model.forward_features(x)
        finally:
            self.in_features = False
        self.feature_map = f
        return self.model.forward_head(f)


@dataclass
class _Trace:
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


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (list, tuple)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        return _first_tensor(list(out.values()))
    return None


def _run(model: nn.Module, size: tuple[int, int, int]) -> _Trace:
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
              meta_state: bool) -> _Trace:
    from torch.utils.flop_counter import FlopCounterMode

    tr = _Trace(size)
    probe = _Probe(model)
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
        t = _first_tensor(out)
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
    t = _first_tensor(out)
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


# ---------------------------------------------------------------- summary
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
            rf_text = str(ReceptiveField(**{k: tuple(v) if isinstance(v, list) else v
                                            for k, v in rf.items()})) if rf else "unknown"
            out.append(f"Final feature map ({fm['name']}): {'x'.join(map(str, fm['shape']))}, "
                       f"receptive field {rf_text}")
        if any(r.receptive_field and r.receptive_field.global_context for r in self.layers):
            out.append("* a global pooling path (squeeze-and-excitation) also feeds these units, so "
                       "each depends on the whole input; RF is the convolutional path's field")
        return "\n".join(out)


def _pair_str(pair: tuple[float, float]) -> str:
    a, b = (int(v) if float(v).is_integer() else round(v, 2) for v in pair)
    return f"{a}" if a == b else f"{a}x{b}"


def _display_order(tr: _Trace, modules: dict[str, nn.Module], depth: int) -> list[str]:
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
    model = _resolve_model(model_or_name)
    size = _input_size(model, input_size)
    tr = _run(model, size)
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


# ---------------------------------------------------------------- receptive field, FLOPs
def receptive_field(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None, *,
                    layer: str | None = None) -> ReceptiveField:
    """The receptive field of ``layer``'s output (a module name), or of the final feature map.

    Computed on the real graph (branches, residual and dense connections included: the
    largest path wins), per axis: size, jump (effective stride) and start offset, as in
    Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
    E.g. ``receptive_field("vgg16", layer="features.30").size == (212, 212)``.
    """
    model = _resolve_model(model_or_name)
    tr = _run(model, _input_size(model, input_size))
    if layer is None:
        rf = tr.feature_field
        where = "the final feature map"
    else:
        names = [n for n, _ in model.named_modules() if n]
        if layer not in names:
            raise InvalidArgumentError(_unknown_layers([layer], names))
        if layer not in tr.shapes:
            raise InvalidArgumentError(f"layer '{layer}' does not run in eval mode, so it has no output")
        rf, where = tr.fields[layer], f"'{layer}'"
    if rf is None:
        raise InvalidArgumentError(f"the receptive field of {where} is unknown: an operation "
                                   "changes the resolution in a way the analysis does not model")
    return rf


@dataclass(frozen=True)
class FlopCount:
    """Multiply-accumulates of one forward pass of one image, in total and per module/op.

    ``gflops`` is torchvision's "GFLOPS" (MACs / 1e9: one multiply-add = one operation);
    ``hardware_flops`` counts the multiply and the add separately (2 x MACs).
    """

    macs: int
    by_module: dict[str, int]
    by_op: dict[str, int]

    @property
    def gflops(self) -> float:
        return self.macs / 1e9

    @property
    def hardware_flops(self) -> int:
        return 2 * self.macs


def count_flops(model_or_name: nn.Module | str, input_size: Sequence[int] | int | None = None) -> FlopCount:
    """MACs of one image's forward pass, measured with ``torch.utils.flop_counter.FlopCounterMode``.

    Per-module counts include submodules (module names as in the state dict). The total
    equals torchvision's published GFLOPS (e.g. resnet50 4.089) at the same input size.
    """
    model = _resolve_model(model_or_name)
    tr = _run(model, _input_size(model, input_size))
    return FlopCount(tr.macs, dict(tr.macs_by_module), dict(tr.macs_by_op))


# ---------------------------------------------------------------- saliency
def _logits(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else _first_tensor(out)  # type: ignore[return-value]


def saliency(model: nn.Module, image: torch.Tensor, target: int | Sequence[int] | torch.Tensor | None = None,
             smoothgrad_samples: int = 0, noise: float = 0.15) -> torch.Tensor:
    """Gradient saliency: |d class score / d input|, maximum over the colour channels.

    Simonyan, Vedaldi and Zisserman 2014, "Deep Inside Convolutional Networks", Sec. 3.1;
    the score is the unnormalised logit of ``target`` (default: the predicted class).
    ``image`` is a preprocessed (C, H, W) or (N, C, H, W) tensor; the result is (H, W) or
    (N, H, W). ``smoothgrad_samples > 0`` averages the map over that many copies with
    Gaussian noise of standard deviation ``noise * (max - min)`` of each image (SmoothGrad,
    Smilkov et al. 2017, Sec. 3). The model's mode and its parameters' gradients are untouched.
    """
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        raise InvalidArgumentError("image must be a (C, H, W) or (N, C, H, W) tensor")
    if isinstance(smoothgrad_samples, bool) or not isinstance(smoothgrad_samples, int) or smoothgrad_samples < 0:
        raise InvalidArgumentError(f"smoothgrad_samples must be an integer >= 0, got {smoothgrad_samples!r}")
    if not noise >= 0:
        raise InvalidArgumentError(f"noise must be >= 0, got {noise!r}")
    single = image.ndim == 3
    param = next(model.parameters(), None)
    x = image.unsqueeze(0) if single else image
    if param is not None:
        x = x.to(device=param.device, dtype=param.dtype)
    x = x.detach()
    was_training = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            logits = _logits(model(x))
        n, num_classes = logits.shape
        if target is None:
            tgt = logits.argmax(1)
        else:
            tgt = torch.as_tensor(target, device=x.device, dtype=torch.long).reshape(-1).expand(n)
            if ((tgt < 0) | (tgt >= num_classes)).any():
                raise InvalidArgumentError(f"target must be a class index in [0, {num_classes}), got {target!r}")

        def grad_map(inp: torch.Tensor) -> torch.Tensor:
            inp = inp.detach().requires_grad_(True)
            with torch.enable_grad():
                score = _logits(model(inp)).gather(1, tgt[:, None]).sum()
                (g,) = torch.autograd.grad(score, inp)
            return g.abs().amax(dim=1)

        if smoothgrad_samples == 0:
            maps = grad_map(x)
        else:
            spread = (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))).view(-1, 1, 1, 1)
            maps = torch.zeros(x.shape[0], *x.shape[2:], device=x.device, dtype=x.dtype)
            for _ in range(smoothgrad_samples):
                maps += grad_map(x + noise * spread * torch.randn_like(x))
            maps /= smoothgrad_samples
    finally:
        for m, mode in was_training.items():
            m.training = mode
    return maps[0] if single else maps


# ---------------------------------------------------------------- features
def stage_names(model: nn.Module, input_size: Sequence[int] | int | None = None) -> list[str]:
    """Module names of the stage outputs: the last module at each spatial resolution.

    E.g. ResNet ``['relu', 'layer1', 'layer2', 'layer3', 'layer4']``; a model whose features
    are one ``Sequential`` is looked into (VGG: ``['features.3', ..., 'features.30']``).
    Only modules run inside ``forward_features`` count (not the head's global pooling).
    """
    tr = _run(model, _input_size(model, input_size))
    last: dict[str, int] = {}
    hw: dict[str, tuple[int, int] | None] = {}
    for i, (n, s, in_features) in enumerate(tr.completions):
        if in_features:
            last[n], hw[n] = i, s
    modules = dict(model.named_modules())
    if not tr.feature_name or tr.feature_name != "forward_features":  # a foreign model: cut the head
        end = last.get(tr.feature_name or "", len(tr.completions))
        last = {n: i for n, i in last.items() if i <= end}

    def children(n: str) -> list[str]:
        prefix = f"{n}." if n else ""
        kids = [c for c in last if c.startswith(prefix) and "." not in c[len(prefix):]]
        return sorted(kids, key=last.__getitem__)

    def expand(n: str) -> list[str]:
        kids = children(n)
        if kids and len({hw[k] for k in kids}) > 1:  # a container spanning resolutions: look inside
            return [e for k in kids for e in expand(k)]
        return [n]

    seq = [e for k in children("") for e in expand(k) if hw.get(e) is not None]
    stages: dict[tuple[int, int], str] = {}
    for n in seq:
        # an Identity adds nothing (ResNet v1's final_relu), a global pool belongs to the head
        if not isinstance(modules[n], (nn.Identity, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            stages.pop(hw[n], None)  # the last module at each resolution wins
            stages[hw[n]] = n  # type: ignore[index]
    return sorted(stages.values(), key=last.__getitem__)


def _unknown_layers(unknown: Sequence[str], names: Sequence[str]) -> str:
    close = [s for u in unknown for s in suggest(u, names, n=3)]
    top = [n for n in names if n.count(".") < 2]
    hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
    return (f"unknown layer name(s) {', '.join(map(repr, unknown))}{hint}; valid names are module "
            f"names such as {', '.join(top)}, or deeper ones (cnnzoo info MODEL --depth N lists them)")


class _FeaturesOnly(nn.Module):
    """The model's ``forward_features`` as a forward: what FX traces when the head will not."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def _fx_errors() -> tuple[type[BaseException], ...]:
    # what torch.fx raises on code it cannot trace: Python control flow on traced values
    # (TraceError) or a module built inside forward, such as a slice of a Sequential (NameError)
    from torch.fx.proxy import TraceError

    return (TraceError, NameError, TypeError)


def features(model: nn.Module, layers: Sequence[str] | str | None = None, *,
             input_size: Sequence[int] | int | None = None) -> nn.Module:
    """A module returning ``{name: feature map}`` for the named layers (module names).

    Built with torchvision's ``create_feature_extractor`` (FX), so any module name works
    (``"layer1"``, ``"features.denseblock2"``) as well as FX node names. With ``layers=None``
    the stage outputs (:func:`stage_names`) are returned. Unknown names raise
    :class:`~cnnzoo.errors.InvalidArgumentError` listing valid ones. Where FX cannot trace
    the model's head, layers inside ``forward_features`` are still extracted.
    """
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

    if layers is None:
        layers = stage_names(model, input_size)
    elif isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers or not all(isinstance(n, str) for n in layers):
        raise InvalidArgumentError(f"layers must be a non-empty list of layer names, got {layers!r}")
    module_names = [n for n, _ in model.named_modules() if n]
    fx_errors = _fx_errors()
    roots: list[tuple[nn.Module, str]] = [(model, "")]
    if callable(getattr(model, "forward_features", None)):
        roots.append((_FeaturesOnly(model), "model."))
    failure: BaseException | None = None
    for root, prefix in roots:
        try:
            known = set(module_names)
            if not known.issuperset(layers):
                train_nodes, eval_nodes = get_graph_node_names(root)
                known |= {n[len(prefix):] for n in set(train_nodes) & set(eval_nodes)}
            unknown = [n for n in layers if n not in known]
            if unknown:
                raise InvalidArgumentError(_unknown_layers(unknown, module_names))
            return create_feature_extractor(root, return_nodes={prefix + n: n for n in layers})
        except InvalidArgumentError:
            raise
        except fx_errors as e:  # try the features alone
            failure = failure or e
        except ValueError:  # a layer the traced part does not run (the head, here)
            if root is model:
                raise
    raise InvalidArgumentError(
        f"torch.fx cannot trace {type(model).__name__}.forward ({failure}), so only layers run by "
        f"forward_features can be extracted; not all of {', '.join(layers)} are")
