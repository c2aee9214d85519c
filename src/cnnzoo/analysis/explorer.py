"""The model explorer: one self-contained HTML page of a network's graph beside its per-layer table.

The graph is the real dataflow, read with ``torch.fx`` (a symbolic trace whose leaves are the
modules at the chosen depth), so Inception's branches, ResNet's identity shortcuts and
DenseNet's concatenations appear as the code runs them, with each tensor's shape on its
edge. The numbers (shapes, parameters, MACs, receptive fields) are :func:`~.summary.summary`'s,
not computed again: a module's output shape on an edge is its table row's, and only the
functional glue between modules (``add``, ``cat``, ``flatten``) is run, on the meta device.
The layout is a layered drawing in the manner of Sugiyama et al. (1981): each node on the
layer of its longest path from the input, branches side by side, long edges routed beside
the nodes they skip; it is done here in Python and written as SVG, one drawing per nesting
level so that the page can collapse the graph to the papers' blocks with a few lines of
JavaScript. The page loads nothing from anywhere (no CDN, no server): styles, script, the
drawings and the sample image are inline.
"""

from __future__ import annotations

import base64
import gzip
import html
import importlib.util
import io
import itertools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_write, output_file
from ..errors import InvalidArgumentError
from ..limits import check_count
from .summary import ModelSummary, _fmt_shape, _human, _pair_str, summary
from .trace import resolve_input_size, resolve_model

__all__ = ["explore", "ModelExplorer"]

# calls that only check or unpack: the tensor flows through them, they get no node
_BOOKKEEPING = {"check_input_size", "getitem", "getattr", "size", "dim", "_assert", "contiguous", "type_as"}
_OP_LABELS = {"add": "+", "iadd": "+", "cat": "concat", "mul": "\u00d7", "imul": "\u00d7", "stack": "stack"}
_NODE_W, _NODE_H, _OP_W, _OP_H, _GAP_X, _GAP_Y = 142, 34, 64, 20, 20, 30


# ---------------------------------------------------------------- the dataflow
@dataclass
class _Node:
    key: str  #: unique within a level
    label: str  #: first line of the box
    sub: str  #: second line (what the layer does)
    kind: str  #: the summary's kind (weight, pool, ...), "op", "input" or "output"
    row: int | None  #: index of the summary row it shows
    owner: str  #: the module whose forward made it (an op) or its own name (a module)
    shape: tuple[int, ...] | None  #: of its output
    preds: list[int] = field(default_factory=list)  #: indices of the nodes it reads
    group: bool = False  #: a block folded into one node (its members are drawn one level down)


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer with the modules at ``depth`` (and the bare layers above it) as leaves."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname.count(".") + 1 >= self.depth or next(iter(m.children()), None) is None


class _Shapes(torch.fx.Interpreter):
    """Runs the traced graph on the meta device with each module's output taken from its table row."""

    def __init__(self, gm: torch.fx.GraphModule, table: ModelSummary, rows: dict[tuple[str, int], int]) -> None:
        super().__init__(gm)
        self.table, self.rows, self.calls = table, rows, dict[str, int]()
        self.shapes: dict[str, tuple[int, ...] | None] = {}

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        self.shapes[n.name] = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
        return out

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        self.calls[target] = self.calls.get(target, 0) + 1
        row = self.rows.get((target, self.calls[target]))
        shape = self.table.layers[row].output_shape if row is not None else None
        if shape is not None:
            return torch.empty((1, *shape), device="meta")
        mod = self.fetch_attr(target)  # no tensor recorded (a module returning a tuple): run it on meta
        state = {k: torch.empty_like(v, device="meta") for k, v in [*mod.named_parameters(), *mod.named_buffers()]}
        return torch.func.functional_call(mod, state, args, kwargs)


def _brief(mod: nn.Module, type_name: str) -> str:
    """What a layer does, in the words of a lecture slide: ``conv 3x3/2, 64``."""

    def pair(v: Any) -> str:
        a, b = (v, v) if isinstance(v, int) else tuple(v)
        return f"{a}\u00d7{b}"

    if isinstance(mod, nn.Conv2d):
        stride = "" if max(mod.stride) == 1 else f"/{mod.stride[0]}"
        groups = (
            " dw"
            if mod.groups == mod.in_channels == mod.out_channels > 1
            else (f" g{mod.groups}" if mod.groups > 1 else "")
        )
        return f"conv {pair(mod.kernel_size)}{stride}{groups}, {mod.out_channels}"
    if isinstance(mod, nn.Linear):
        return f"fc {mod.in_features}\u2192{mod.out_features}"
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        s = mod.stride if mod.stride is not None else mod.kernel_size
        what = "max" if isinstance(mod, nn.MaxPool2d) else "avg"
        return f"{what} pool {pair(mod.kernel_size)}/{s if isinstance(s, int) else s[0]}"
    if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = mod.output_size
        return f"adaptive pool \u2192 {pair(size) if size is not None else 'same'}"
    if isinstance(mod, nn.Dropout):
        return f"dropout {mod.p:g}"
    return type_name


def _trace_graph(model: nn.Module, depth: int) -> torch.fx.GraphModule:
    modes = {m: m.training for m in model.modules()}
    model.eval()  # the graph that runs at inference (GoogLeNet's auxiliary heads are training only)
    try:
        tracer = _Tracer(depth)
        return torch.fx.GraphModule(model, tracer.trace(model))
    except (torch.fx.proxy.TraceError, NameError, TypeError) as e:
        raise InvalidArgumentError(
            f"torch.fx cannot trace {type(model).__name__}.forward ({e}), so its "
            f"graph cannot be drawn; cnnzoo info still prints its table"
        ) from e
    finally:
        for m, mode in modes.items():
            m.training = mode


def _dataflow(model: nn.Module, table: ModelSummary, depth: int) -> list[_Node]:
    """One node per module call at ``depth`` (and per functional op between them), in run order."""
    gm = _trace_graph(model, depth)
    rows = {(r.name, r.call): i for i, r in enumerate(table.layers) if r.call >= 1}
    shapes = _Shapes(gm, table, rows)
    shapes.run(torch.zeros((1, *table.input_size), device="meta"))
    nodes: list[_Node] = []
    index: dict[str, list[int]] = {}  # fx node name -> our nodes it stands for
    calls: dict[str, int] = {}
    modules = dict(model.named_modules())
    for n in gm.graph.nodes:
        preds = list(dict.fromkeys(i for a in n.all_input_nodes for i in index.get(a.name, [])))
        shape = shapes.shapes.get(n.name)
        if n.op == "placeholder":
            node = _Node("input", "input", _times(shape), "input", None, "", shape)
        elif n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
            row = rows.get((n.target, calls[n.target]))
            kind = table.layers[row].kind if row is not None else "other"
            name = n.target + (f" [{calls[n.target]}]" if calls[n.target] > 1 else "")
            node = _Node(
                f"{n.target}#{calls[n.target]}",
                name,
                _brief(modules[n.target], type(modules[n.target]).__name__),
                kind,
                row,
                n.target,
                shape,
            )
        elif n.op == "output":
            shape = nodes[preds[0]].shape if preds else None
            node = _Node("output", "output", _times(shape), "output", None, "", shape)
        elif n.op in ("call_function", "call_method") and shape is not None and _op_name(n) not in _BOOKKEEPING:
            stack = n.meta.get("nn_module_stack") or {}
            owner = next(reversed(stack.keys()), "") if stack else ""
            op = _op_name(n)
            node = _Node(f"op:{n.name}", _OP_LABELS.get(op, op), op, "op", None, owner, shape)
        else:  # unpacking, checks and constants pass their inputs through
            index[n.name] = preds
            continue
        node.preds = preds
        index[n.name] = [len(nodes)]
        nodes.append(node)
    return nodes


def _times(shape: Sequence[int] | None) -> str:
    return _fmt_shape(shape).replace("x", "\u00d7")


def _op_name(n: torch.fx.Node) -> str:
    return n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target)).strip("_")


def _collapse(nodes: list[_Node], table: ModelSummary, level: int) -> list[_Node]:
    """The graph with every module deeper than ``level`` folded into its ancestor at ``level``."""
    by_name = {r.name: i for i, r in enumerate(table.layers) if r.call <= 1 and r.type != "Parameter"}
    out: list[_Node] = []
    where: dict[int, int] = {}
    groups: dict[str, int] = {}
    for i, n in enumerate(nodes):
        owner_depth = n.owner.count(".") + 1 if n.owner else 0
        deep = owner_depth > level if n.kind != "op" else owner_depth >= level
        if not deep:
            where[i] = len(out)
            out.append(_Node(n.key, n.label, n.sub, n.kind, n.row, n.owner, n.shape))
            continue
        group = ".".join(n.owner.split(".")[:level])
        if group not in groups:
            row = by_name.get(group)
            r = table.layers[row] if row is not None else None
            groups[group] = len(out)
            out.append(
                _Node(
                    group,
                    group,
                    r.type if r else "",
                    r.kind if r else "container",
                    row,
                    group,
                    r.output_shape if r else None,
                    group=True,
                )
            )
        where[i] = groups[group]
        g = out[groups[group]]
        if g.row is None or table.layers[g.row].call == 0:
            g.shape = n.shape  # a container never called itself (a slice of it ran): its last member's output
    for i, n in enumerate(nodes):
        me = out[where[i]]
        for p in n.preds:
            if where[p] != where[i] and where[p] not in me.preds:
                me.preds.append(where[p])
    return out


# ---------------------------------------------------------------- the layout
def _width(n: _Node) -> float:
    return _OP_W if n.kind == "op" else _NODE_W


def _height(n: _Node) -> float:
    return _OP_H if n.kind == "op" else _NODE_H


def _boxes_of(n: _Node, level: int) -> list[str]:
    """The containers drawn around ``n`` at this level: its ancestors (an op's owner included)."""
    parts = n.owner.split(".") if n.owner else []
    own = len(parts) if n.kind == "op" else len(parts) - 1
    return [".".join(parts[: i + 1]) for i in range(min(own, level - 1))]


def _layout(nodes: list[_Node], level: int) -> tuple[list[float], list[float], list[int]]:
    """Centre x and top y of every node, and its layer: the longest path from the input."""
    layer: list[int] = []
    for i, n in enumerate(nodes):
        layer.append(1 + max((layer[p] for p in n.preds if p < i), default=-1))
    members: dict[int, list[int]] = {}
    for i, lay in enumerate(layer):
        members.setdefault(lay, []).append(i)
    x = [0.0] * len(nodes)
    for lay in sorted(members):
        # under the nodes of the layer just above that it reads (the main path stays straight),
        # else under all it reads; then pushed apart left to right and centred on what they want
        want = {}
        for i in members[lay]:
            near = [x[p] for p in nodes[i].preds if p < i and layer[p] == lay - 1]
            src = near or [x[p] for p in nodes[i].preds if p < i]
            want[i] = sum(src) / len(src) if src else 0.0
        order = sorted(members[lay], key=lambda i: (want[i], i))
        right = -float("inf")
        for i in order:
            x[i] = max(want[i], right + _GAP_X + _width(nodes[i]) / 2)
            right = x[i] + _width(nodes[i]) / 2
        shift = sum(want[i] - x[i] for i in order) / len(order)
        for i in order:
            x[i] += shift
    # rows of layers, with room between them for the shape labels and the block frames that open or close
    top: list[float] = []
    y = 0.0
    boxes = [{b for i in members[lay] for b in _boxes_of(nodes[i], level)} for lay in sorted(members)]
    for lay in sorted(members):
        top.append(y)
        if lay + 1 in members:
            closing, opening = boxes[lay] - boxes[lay + 1], boxes[lay + 1] - boxes[lay]
            pad_bottom = max((6 * (level - b.count(".") - 1) for b in closing), default=0)
            pad_top = max((16 * (level - b.count(".") - 1) for b in opening), default=0)
            y += max(_height(nodes[i]) for i in members[lay]) + max(_GAP_Y, pad_bottom + pad_top + 14)
    return x, [top[layer[i]] + (_NODE_H - _height(n)) / 2 for i, n in enumerate(nodes)], layer


def _edge_path(x1: float, y1: float, x2: float, y2: float, lane: float | None) -> str:
    if lane is None:  # the next layer, or a column that is free all the way down
        mid = y2 - min(_GAP_Y, y2 - y1) / 2
        return (
            f"M{x1:.0f},{y1:.0f} L{x1:.0f},{mid - 8:.0f} C{x1:.0f},{mid + 4:.0f} {x2:.0f},{mid - 4:.0f} "
            f"{x2:.0f},{mid + 8:.0f} L{x2:.0f},{y2:.0f}"
        )
    return (
        f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 14:.0f} {lane:.0f},{y1 + 4:.0f} {lane:.0f},{y1 + 22:.0f} "
        f"L{lane:.0f},{y2 - 22:.0f} C{lane:.0f},{y2 - 4:.0f} {x2:.0f},{y2 - 14:.0f} {x2:.0f},{y2:.0f}"
    )


def _svg(nodes: list[_Node], level: int) -> str:
    """One level's drawing: frames of the blocks, edges with the tensor shapes, then the nodes."""
    x, y, layer = _layout(nodes, level)
    by_layer: dict[int, list[int]] = {}
    for i, lay in enumerate(layer):
        by_layer.setdefault(lay, []).append(i)
    right = {lay: max(x[i] + _width(nodes[i]) / 2 for i in m) for lay, m in by_layer.items()}
    edges, labels, extent = [], [], [max(right.values(), default=0.0)]
    for i, n in enumerate(nodes):
        for p in n.preds:
            x1, y1, x2, y2 = x[p], y[p] + _height(nodes[p]), x[i], y[i]
            between = range(layer[p] + 1, layer[i]) if layer[p] < layer[i] else range(0)
            blocked = any(abs(x[j] - x1) < _width(nodes[j]) / 2 + 4 for lay in between for j in by_layer[lay])
            lane = None
            if blocked or layer[p] >= layer[i]:  # skips over nodes (or runs back up): beside them, leaving
                # and entering at the right of the nodes so that the main path stays one straight line
                x1, x2 = x1 + _width(nodes[p]) / 4, x2 + _width(n) / 4
                lane = max(max((right[lay] for lay in between), default=x1), x1, x2) + 16 + 6 * min(len(between), 40)
                extent.append(lane)
            cls = "e long" if len(between) else "e"
            edges.append(f'<path class="{cls}" data-from="{p}" data-to="{i}" d="{_edge_path(x1, y1, x2, y2, lane)}"/>')
    consumed = {p for n in nodes for p in n.preds}
    for p, n in enumerate(nodes):
        if p in consumed and n.shape is not None:  # a tensor's shape once, where it leaves its node (left
            labels.append(  # of the line: long edges leave on the right)
                f'<text class="shape" data-of="{p}" x="{x[p] - 5:.0f}" y="{y[p] + _height(n) + 12:.0f}">'
                f"{_times(n.shape)}</text>"
            )
    frames = []
    members: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for b in _boxes_of(n, level):
            members.setdefault(b, []).append(i)
    for box, inside in sorted(members.items(), key=lambda item: item[0].count(".")):
        k = level - box.count(".") - 1
        x0 = min(x[i] - _width(nodes[i]) / 2 for i in inside) - 8 * k
        x1 = max(x[i] + _width(nodes[i]) / 2 for i in inside) + 8 * k
        y0 = min(y[i] for i in inside) - 16 * k
        y1 = max(y[i] + _height(nodes[i]) for i in inside) + 6 * k
        frames.append(
            f'<g class="frame" data-name="{html.escape(box)}" data-level-to="{box.count(".") + 1}">'
            f'<rect x="{x0:.0f}" y="{y0:.0f}" width="{x1 - x0:.0f}" height="{y1 - y0:.0f}" rx="6"/>'
            f'<text x="{x0 + 6:.0f}" y="{y0 + 11:.0f}">{html.escape(box)}</text></g>'
        )
    shapes = [_node_svg(i, n, x[i], y[i], level) for i, n in enumerate(nodes)]
    left = min((x[i] - _width(n) / 2 for i, n in enumerate(nodes)), default=0.0) - 40
    width = max(extent) + 60 - left
    height = max((y[i] + _height(n) for i, n in enumerate(nodes)), default=0.0) + 50
    return (
        f'<svg class="graph" data-level="{level}" viewBox="{left:.0f} -30 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}">'
        f'<g class="frames">{"".join(frames)}</g><g class="edges">{"".join(edges)}</g>'
        f'<g class="labels">{"".join(labels)}</g><g class="nodes">{"".join(shapes)}</g></svg>'
    )


def _node_svg(i: int, n: _Node, x: float, y: float, level: int) -> str:
    w, h = _width(n), _height(n)
    title = html.escape(f"{n.label}: {n.sub}")
    if n.kind == "op":
        return (
            f'<g class="node op" data-i="{i}" data-name="{html.escape(n.label)}" transform="translate({x:.0f},'
            f'{y:.0f})"><title>{title}</title><rect x="{-w / 2:.0f}" width="{w:.0f}" height="{h:.0f}" rx="10"/>'
            f'<text y="{h / 2 + 4:.0f}">{html.escape(n.label)}</text></g>'
        )
    cls = "io" if n.kind in ("input", "output") else "module" + (" group" if n.group else "")
    short = n.label if level == 1 or n.kind in ("input", "output") else n.label.rsplit(".", 1)[-1]
    row = f' data-row="{n.row}"' if n.row is not None else ""
    return (
        f'<g class="node {cls} k-{n.kind}" data-i="{i}"{row} data-name="{html.escape(n.label)}" '
        f'transform="translate({x:.0f},{y:.0f})"><title>{title}</title>'
        f'<rect x="{-w / 2:.0f}" width="{w:.0f}" height="{h:.0f}" rx="4"/>'
        f'<text class="name" y="14">{html.escape(short[:26])}</text>'
        f'<text class="sub" y="28">{html.escape(n.sub[:30])}</text></g>'
    )


# ---------------------------------------------------------------- the page
def _sample_image(size: Sequence[int]) -> str | None:
    """A picture at the input size, as a data URI: a handwritten digit for one channel (LeNet's
    28x28 digit centred in 32x32, LeCun et al. 1998 Sec. II.A), else a photograph; both ship
    with scikit-learn, so the page needs no download."""
    spec = importlib.util.find_spec("sklearn")
    if len(size) != 3 or spec is None or not spec.submodule_search_locations:
        return None
    from PIL import Image, ImageOps

    # read from scikit-learn's folder, not through sklearn.datasets, whose import takes seconds
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    _, h, w = size
    if size[0] == 1:
        with gzip.open(folder / "data" / "digits.csv.gz", "rt") as f:
            line = next(itertools.islice(f, 5, None))  # a 5: 8x8 values 0..16, then the label
        digit = Image.frombytes("L", (8, 8), bytes(round(int(v) * 255 / 16) for v in line.split(",")[:64]))
        picture = Image.new("RGB", (w, h))
        inner = digit.resize((max(1, round(w * 20 / 32)), max(1, round(h * 20 / 32))), Image.Resampling.BILINEAR)
        picture.paste(inner.convert("RGB"), ((w - inner.width) // 2, (h - inner.height) // 2))
    else:
        with Image.open(folder / "images" / "flower.jpg") as photo:
            picture = ImageOps.fit(photo.convert("RGB"), (w, h), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=88)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _parents(table: ModelSummary) -> list[int]:
    """The row of each row's nearest shown ancestor (-1 for the top level)."""
    index = {r.name: i for i, r in enumerate(table.layers) if r.call <= 1}
    out = []
    for r in table.layers:
        parts = r.name.split(".")
        out.append(
            next((index[p] for p in (".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)) if p in index), -1)
        )
    return out


def _table_html(table: ModelSummary) -> str:
    """The summary's own rows and numbers, as an HTML table (one ``<tr data-row>`` per row)."""
    out: list[str] = []
    for r, up in zip(table.layers, _parents(table)):
        # a row's name without its parent's, which the indentation and the row above show
        name = r.label[len(table.layers[up].name) + 1 :] if up >= 0 else r.label
        if up >= 0 and name[:1].isdigit():  # a block's index alone says little: "layer1.0", not "0"
            name = r.name.rsplit(".", 2)[-2] + "." + name
        i = len(out)
        rf = r.receptive_field
        cells = (
            [_pair_str(rf.size) + ("*" if rf.global_context else ""), _pair_str(rf.jump), _pair_str(rf.start)]
            if rf is not None
            else ["?" if r.output_shape is not None else "-", "", ""]
        )
        params = "shared" if r.call > 1 and r.params == 0 and r.kind == "weight" else f"{r.params:,}"
        title = html.escape("; ".join([r.label, *r.notes]))
        cls = f"d{min(r.depth, 6)}" + (" leaf" if r.leaf else " container") + (" noted" if r.notes else "")
        out.append(
            f'<tr data-row="{i}" data-name="{html.escape(r.name)}" class="{cls}" title="{title}">'
            f'<td class="name">{html.escape(name)}</td>'
            f"<td>{_times(r.output_shape)}</td><td>{params}</td><td>{_human(r.macs) if r.macs else '-'}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return "\n".join(out)


def _totals_html(table: ModelSummary) -> str:
    t = table.totals
    cost = ("GFLOPs (multiply-adds)", f"{t['gflops']:.2f}") if t["gflops"] >= 0.01 else ("MACs", _human(t["macs"]))
    items = [
        ("parameters", f"{t['params']:,}"),
        (cost[0], cost[1]),
        ("weight layers deep", f"{t['depth']}"),
        ("MB activations / image", f"{t['activation_mb']:.2f}"),
        ("input", _times(table.input_size)),
        ("output", _times(t["output_shape"])),
    ]
    if t["eval_skipped_params"]:
        items.insert(1, ("in inference", f"{t['inference_params']:,}"))
    fm = t["final_feature_map"]
    if fm is not None and fm["receptive_field"]:
        items.append(("final map RF", f"{_pair_str(tuple(fm['receptive_field']['size']))} px"))
    return "".join(f'<span class="total"><b>{html.escape(v)}</b> {html.escape(k)}</span>' for k, v in items)


def _row_data(table: ModelSummary) -> list[dict[str, Any]]:
    """What the script needs of each row: names, shapes, counts and receptive fields, and the parent row."""
    rows = []
    for r, up in zip(table.layers, _parents(table)):
        rows.append(
            {
                "n": r.label,
                "s": list(r.output_shape) if r.output_shape else None,
                "p": r.params,
                "m": r.macs,
                "rf": r.receptive_field.to_dict() if r.receptive_field else None,
                "up": up,
                "notes": r.notes,
            }
        )
    return rows


class ModelExplorer:
    """The explorer page of one network: :meth:`save` it, or show it in Jupyter (``_repr_html_``).

    Made by :func:`explore`. ``summary`` is the :class:`~.summary.ModelSummary` it shows;
    ``html`` the page, one self-contained file.
    """

    def __init__(self, table: ModelSummary, drawings: list[str], depth: int) -> None:
        self.summary, self.depth = table, depth
        template = resources.files("cnnzoo").joinpath("assets/explorer.html").read_text(encoding="utf-8")
        data = {
            "rows": _row_data(table),
            "params": table.totals["params"],
            "macs": table.totals["macs"],
            "input": list(table.input_size),
            "depth": depth,
        }
        image = _sample_image(table.input_size)
        levels = "".join(f'<button data-level="{k}">{k}</button>' for k in range(1, depth + 1))
        parts = {
            "TITLE": html.escape(table.model),
            "TOTALS": _totals_html(table),
            "LEVELS": levels,
            "GRAPHS": "".join(drawings),
            "TABLE": _table_html(table),
            "IMAGE": image or "",
            "DATA": json.dumps(data).replace("</", "<\\/"),
        }
        # one pass, so that no inserted text is taken for a placeholder
        self.html = re.sub(r"@([A-Z]+)@", lambda m: parts.get(m.group(1), m.group(0)), template)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page (atomically) to ``path``; returns the path."""
        return atomic_write(output_file(path), self.html)

    def _repr_html_(self) -> str:
        # in an iframe, so that the page's styles and script stay its own inside a notebook
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:720px;'
            f'border:1px solid #ccc" sandbox="allow-scripts"></iframe>'
        )


def explore(
    model_or_name: nn.Module | str,
    input_size: Sequence[int] | int | None = None,
    *,
    depth: int = 2,
    table: ModelSummary | None = None,
) -> ModelExplorer:
    """The model explorer: the network's graph beside its per-layer table, as one offline HTML page.

    The graph is the dataflow of ``model_or_name`` (a module or a registered name) traced by
    ``torch.fx`` with the modules at ``depth`` as nodes, each edge labelled with the shape of
    its tensor, branches and shortcuts drawn as they run; the page can fold it to the blocks
    of each shallower level. Beside it the :func:`~.summary.summary` table at that depth
    (``table``, when already made with the same model, input size and depth, is used as is);
    hovering a layer shows its receptive field (Araujo et al., Distill 2019) as a square on a
    sample picture, and its share of the parameters and MACs. ``explore("resnet50",
    depth=3).save("resnet50.html")``.
    """
    check_count("depth", depth)
    model = resolve_model(model_or_name)
    if table is None:
        table = summary(model, resolve_input_size(model, input_size), depth=depth)
        if isinstance(model_or_name, str):
            table.model = model_or_name
    nodes = _dataflow(model, table, depth)
    drawings = [
        _svg(_collapse(nodes, table, level) if level < depth else nodes, level) for level in range(1, depth + 1)
    ]
    return ModelExplorer(table, drawings, depth)
