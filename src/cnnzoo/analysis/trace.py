"""The one instrumented forward pass that every analysis reads.

Everything is measured from the module itself, never from a hand-kept formula: one forward
pass (on the meta device when the model allows it, so VGG-16 costs nothing) with forward
hooks for shapes, ``torch.utils.flop_counter.FlopCounterMode`` for the multiply-adds
(:mod:`~cnnzoo.analysis.flops`), :class:`~cnnzoo.analysis.receptive.ReceptiveFieldMode`
for the receptive fields (and the windows that do not fit) and
:class:`~cnnzoo.analysis.depth.DepthMode` for the depth in weight layers. :func:`trace`
returns a :class:`Trace` of it: one :class:`Call` record per module call, and the totals.
Any module can be traced: a registered network, a block, a single layer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import InputSizeError, InvalidArgumentError, shown, suggest
from ..limits import check_input_size
from .depth import DepthMode, bump, depth_of, is_weight_layer, mark_depth
from .receptive import ReceptiveField, ReceptiveFieldMode, field_of, mark_input

__all__ = [
    "resolve_model",
    "resolve_input_size",
    "classifier",
    "image_batch",
    "Probe",
    "Call",
    "Trace",
    "first_tensor",
    "trace",
    "layer_named",
    "unknown_layers_message",
]


def resolve_model(model_or_name: nn.Module | str) -> nn.Module:
    if isinstance(model_or_name, nn.Module):
        return model_or_name
    from ..factory import create_model
    from ..models.build import split_model_name

    # what is not a name is refused there; a weight tag changes no layer: the architecture suffices
    base, _ = split_model_name(model_or_name)
    with torch.device("meta"):
        return create_model(base)


def resolve_input_size(model: nn.Module, input_size: Sequence[int] | int | None) -> tuple[int, ...]:
    """The input of one image: (C, H, W) for a network of 2-D convolutions (the default: its
    ``pretrained_cfg`` input size, else 224x224; (N, C, H, W) is accepted and N dropped, as
    torchinfo takes it); any shape for other modules (``(10,)`` for ``nn.Linear(10, 5)``)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    chans = getattr(model, "in_chans", None) or (conv.in_channels if conv is not None else 3)
    if input_size is None:
        size = cfg.get("input_size") or (chans, 224, 224)
    elif isinstance(input_size, int) and not isinstance(input_size, bool):
        size = (chans, input_size, input_size)
    else:  # anything but a list or tuple is refused below, as an empty size
        size = tuple(input_size) if isinstance(input_size, (list, tuple)) else ()
    images = bool(cfg) or conv is not None
    if images and len(size) == 4 and isinstance(size[0], int) and not isinstance(size[0], bool) and size[0] > 0:
        size = size[1:]  # (N, C, H, W), torchinfo's habit: the table is per image, whatever the batch
    if (
        (images and len(size) != 3)
        or not size
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise InvalidArgumentError(f"input_size must be (C, H, W) positive integers, got {shown(input_size)}")
    if images:
        check_input_size(size)  # export, info, saliency: the bounds train has
    min_size = cfg.get("min_input_size")
    if min_size and (size[1] < min_size[1] or size[2] < min_size[2]):
        raise InputSizeError(
            f"input {size[1]}x{size[2]} is smaller than the {min_size[1]}x{min_size[2]} "
            f"this model accepts; pass a larger input_size"
        )
    return tuple(size)


def classifier(model: nn.Module, what: str) -> nn.Module:
    """``model``, refused (:class:`InvalidArgumentError`) where it gives no class scores: a ``features_only``
    backbone returns its stage outputs, which ``what`` (saliency, Grad-CAM, export's check) cannot use."""
    from ..models.backbone import FeatureListNet

    if isinstance(model, FeatureListNet):
        raise InvalidArgumentError(
            f"{what} needs a classifier's scores; a features_only backbone returns its stage outputs "
            "(build the model without features_only)"
        )
    return model


def image_batch(model: nn.Module, image: Any, what: str) -> tuple[torch.Tensor, bool]:
    """``image`` ((C, H, W) or (N, C, H, W), preprocessed floats) as a batch on ``model``'s device and dtype,
    and whether it was one image; ``model`` must be a :func:`classifier`. A uint8 image straight from
    ``read_image`` is refused: its 0..255 values are not what a network was trained on."""
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        raise InvalidArgumentError(f"{what}: image must be a (C, H, W) or (N, C, H, W) tensor, got {shown(image)}")
    if not image.is_floating_point():
        raise InvalidArgumentError(
            f"{what}: image must be preprocessed floats (resized and normalised as the model expects, e.g. by "
            f"cnnzoo.apps.predict.preprocess), got a {image.dtype} tensor"
        )
    classifier(model, what)
    param = next(model.parameters(), None)
    x = image.unsqueeze(0) if image.ndim == 3 else image
    return (x.to(device=param.device, dtype=param.dtype) if param is not None else x), image.ndim == 3


class Probe(nn.Module):
    """Runs ``forward_features`` then ``forward_head`` (timm's split) so the feature map is seen."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.split = callable(getattr(model, "forward_features", None)) and callable(
            getattr(model, "forward_head", None)
        )
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
class Call:
    """One call of one module during the traced forward (a module called three times has three)."""

    name: str  #: module name ("" for the model itself)
    index: int  #: 1 for the first call of the module, 2 for the second ...
    shape: tuple[int, ...] | None = None  #: the output without the batch dimension
    rf: ReceptiveField | None = None  #: receptive field of the output
    macs: int = 0  #: of this call, submodules included
    activation_bytes: int = 0  #: of the output, for leaf modules that do not work in place
    notes: list[str] = field(default_factory=list)  #: windows that do not fit, raised by this call itself
    weight_layers: int | None = None  #: weight layers on the longest path from the input to the output
    hw: tuple[int, int] | None = None  #: spatial size of a 4-D output
    in_features: bool = True  #: ran inside ``forward_features`` (or the model has no such split)


@dataclass
class Trace:
    input_size: tuple[int, ...]
    order: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    records: list[Call] = field(default_factory=list)  # every call, in the order the calls started
    root: Call = field(default_factory=lambda: Call("", 1))  # the model's own call
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # of the first call
    fields: dict[str, ReceptiveField | None] = field(default_factory=dict)  # of the first call
    completions: list[tuple[str, tuple[int, int] | None, bool]] = field(default_factory=list)
    finished: list[Call] = field(default_factory=list)  # every call, in the order the calls ended
    activation_bytes: int = 0
    macs_by_module: dict[str, int] = field(default_factory=dict)
    macs_by_op: dict[str, int] = field(default_factory=dict)
    macs: int = 0
    output_shape: tuple[int, ...] | None = None
    feature_name: str | None = None
    feature_shape: tuple[int, ...] | None = None
    feature_field: ReceptiveField | None = None
    rf_lost_at: list[str] = field(default_factory=list)  #: operations whose output field is unknown
    depth: int = 0  #: weight layers on the longest path from the input to the output


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


def trace(model: nn.Module, size: tuple[int, ...]) -> Trace:
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


def _describe(rec: Call, out: Any) -> torch.Tensor | None:
    """Fill in what a call's output says: shape, receptive field, depth, spatial size."""
    t = first_tensor(out)
    if t is not None:
        rec.shape, rec.rf, rec.weight_layers = tuple(t.shape[1:]), field_of(t), depth_of(t)
        rec.hw = (int(t.shape[-2]), int(t.shape[-1])) if t.ndim == 4 else None
    return t


class _Recorder:
    """The forward hooks of :func:`trace`: one :class:`Call` per module call."""

    def __init__(self, tr: Trace, model: nn.Module, probe: Probe, counter: Any) -> None:
        self.tr, self.probe, self.counter = tr, probe, counter
        self.names = {m: n for n, m in model.named_modules() if n}
        self.open: list[tuple[Call, int]] = []  # the running calls and the MAC count when each began

    def note(self, text: str) -> None:
        (self.open[-1][0] if self.open else self.tr.root).notes.append(text)

    def pre_hook(self, mod: nn.Module, inputs: Any) -> None:
        tr, n = self.tr, self.names[mod]
        if tr.calls[n] == 0:
            tr.order.append(n)
        tr.calls[n] += 1
        rec = Call(n, tr.calls[n])
        tr.records.append(rec)
        self.open.append((rec, self.counter.get_total_flops()))

    def post_hook(self, mod: nn.Module, inputs: Any, out: Any) -> None:
        tr = self.tr
        rec, started = self.open.pop()
        n = rec.name
        # MACs of this call, submodules included: the counter's growth while it ran (by
        # module object, so a container sliced in forward, VGG's classifier[:-1], still counts)
        rec.macs = (self.counter.get_total_flops() - started) // 2
        tr.macs_by_module[n] = tr.macs_by_module.get(n, 0) + rec.macs
        if is_weight_layer(mod):
            bump(inputs, out)
        t = _describe(rec, out)
        rec.in_features = self.probe.in_features or not self.probe.split
        if n not in tr.shapes and t is not None:
            tr.shapes[n], tr.fields[n] = rec.shape, rec.rf  # type: ignore[assignment]
        tr.completions.append((n, rec.hw, rec.in_features))
        tr.finished.append(rec)
        leaf = next(iter(mod.children()), None) is None
        if leaf and t is not None and not any(t is i for i in inputs):  # in-place ops add no memory
            rec.activation_bytes = t.numel() * t.element_size()
            tr.activation_bytes += rec.activation_bytes


def _run_once(
    model: nn.Module, size: tuple[int, ...], device: torch.device, dtype: torch.dtype, meta_state: bool
) -> Trace:
    from torch.utils.flop_counter import FlopCounterMode

    tr = Trace(size)
    probe = Probe(model)
    counter = FlopCounterMode(display=False)
    rec = _Recorder(tr, model, probe, counter)
    handles = []
    for m in rec.names:
        handles.append(m.register_forward_pre_hook(rec.pre_hook))
        handles.append(m.register_forward_hook(rec.post_hook))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        x = mark_depth(mark_input(torch.zeros((1, *size), device=device, dtype=dtype)))
        rf_mode = ReceptiveFieldMode(on_note=rec.note)
        with torch.no_grad(), counter, rf_mode, DepthMode():
            if meta_state:
                state = {
                    f"model.{k}": torch.empty_like(v, device="meta")
                    for k, v in [*model.named_parameters(), *model.named_buffers()]
                }
                out = torch.func.functional_call(probe, state, (x,))
            else:
                out = probe(x)
            bare = next(iter(model.children()), None) is None
            if bare and is_weight_layer(model):  # a single layer given as the model
                bump(x, out)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    tr.rf_lost_at = rf_mode.lost
    _finish(tr, model, probe, counter, out)
    return tr


def _finish(tr: Trace, model: nn.Module, probe: Probe, counter: Any, out: Any) -> None:
    """The model's own call, the totals and the final feature map."""
    t = _describe(tr.root, out)
    tr.output_shape = tr.root.shape
    tr.macs = tr.root.macs = counter.get_total_flops() // 2
    tr.macs_by_op = {str(op): c // 2 for op, c in counter.get_flop_counts().get("Global", {}).items()}
    tr.depth = tr.root.weight_layers or 0
    if t is not None and next(iter(model.children()), None) is None:  # a single layer: its output is a leaf's
        tr.root.activation_bytes = t.numel() * t.element_size()
        tr.activation_bytes += tr.root.activation_bytes
    if probe.split and isinstance(probe.feature_map, torch.Tensor):
        fm = probe.feature_map
        tr.feature_name = "forward_features"
        tr.feature_shape, tr.feature_field = tuple(fm.shape[1:]), field_of(fm)
    elif t is not None and t.ndim == 4:  # a block, a layer, a feature extractor: its output is the map
        tr.feature_name, tr.feature_shape, tr.feature_field = "output", tr.root.shape, tr.root.rf
    else:  # a classifier without timm's split: the last 4-D map before global pooling
        for r in reversed(tr.finished):
            if r.hw is not None and not isinstance(
                model.get_submodule(r.name), (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
            ):
                tr.feature_name, tr.feature_shape, tr.feature_field = r.name, r.shape, r.rf
                break


def layer_named(model: nn.Module, layer: str) -> nn.Module:
    """The submodule of ``model`` named ``layer``; an unknown name is refused with the closest ones."""
    names = [n for n, _ in model.named_modules() if n]
    if layer not in names:
        raise InvalidArgumentError(unknown_layers_message([layer], names))
    return model.get_submodule(layer)


def unknown_layers_message(unknown: Sequence[str], names: Sequence[str]) -> str:
    close = [s for u in unknown for s in suggest(u, names, n=3)]
    top = [n for n in names if n.count(".") < 2]
    hint = f" (did you mean {', '.join(dict.fromkeys(close))}?)" if close else ""
    return (
        f"unknown layer name(s) {', '.join(map(repr, unknown))}{hint}; valid names are module "
        f"names such as {', '.join(top)}, or deeper ones (cnnzoo info MODEL --depth N lists them)"
    )
