"""Charts: accuracy vs operations of the published weights (after Canziani et al. 2017), and the
per-layer costs of one network (the classic VGG-16 memory and parameters slide, for any model)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..analysis.flops import count_flops
from ..analysis.summary import LayerInfo, ModelSummary, summary
from ..atomic import atomic_path, output_file
from ..errors import InvalidArgumentError, MissingDependencyError
from ..factory import create_model
from ..models.registry import get_model_entry, list_models
from ..weights.catalogue import CATALOGUE, get_entry

__all__ = ["published_top1", "accuracy_chart", "layer_chart", "accuracy_figure", "recipe_of", "RECIPES"]


def _accuracy_size(entry: Any) -> tuple[int, int, int]:
    # a few timm results are published at a larger test size than the weights' default
    # input (the catalogue says so in its notes); the chart puts them at that size's cost
    m = re.search(r"published accuracy is at .*?(\d+)x(\d+)", entry.notes or "")
    return (entry.input_size[0], int(m.group(1)), int(m.group(2))) if m else tuple(entry.input_size)


def _figure_class() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("the chart needs matplotlib: pip install 'cnnzoo[plot]'") from None
    return Figure


# what each weight tag's training recipe is, by the tag's suffix (timm's ``model.tag`` form):
# accuracy depends on the recipe as much as on the architecture (Wightman et al. 2021, "ResNet
# strikes back"), so the chart keeps recipes apart
RECIPES = {
    "tv_in1k": "torchvision V1: the papers' recipe (~90 epochs, SGD)",
    "in1k": "timm legacy SENet weights",
    "tv2_in1k": "torchvision V2: 2021 recipe (600 epochs, heavy augmentation)",
    "a1h_in1k": "timm ResNet strikes back A1h (600 epochs)",
    "ra4_e3600_r224_in1k": "timm RA4 (3,600 epochs)",
}


def recipe_of(entry: Any) -> str:
    """The training recipe of a catalogue entry, in words (see ``RECIPES``)."""
    suffix = entry.tag.partition(".")[2]
    return RECIPES.get(suffix, f"{entry.source} {suffix}")


def published_top1() -> dict[str, tuple[float, Any]]:
    """Model name -> (top-1 of its default ImageNet weights, catalogue entry), where published."""
    out = {}
    for e in CATALOGUE.values():
        if e.default and e.top1 is not None and e.dataset.startswith("ImageNet"):
            out[e.architecture] = (float(e.top1), e)
    return out


def _chosen_entries(models: str | Sequence[str]) -> list[Any]:
    """Catalogue entries to chart: a weight tag as given (``resnet50.tv_in1k``), or the default
    ImageNet weights of the model names a wildcard matches; comma-separated lists allowed."""
    items = [models] if isinstance(models, str) else list(models)
    items = [part.strip() for item in items for part in item.split(",") if part.strip()]
    defaults = published_top1()
    chosen: dict[str, Any] = {}
    for item in items:
        if "." in item and not any(c in item for c in "*?["):  # a weight tag
            entry = get_entry(item)  # an unknown tag is an UnknownWeightsError that lists the model's tags
            if entry.top1 is None or not entry.dataset.startswith("ImageNet"):
                raise InvalidArgumentError(f"weights {item} have no published ImageNet top-1 to chart")
            chosen[entry.tag] = entry
            continue
        for name in list_models(item):
            if name in defaults:
                chosen.setdefault(defaults[name][1].tag, defaults[name][1])
    return list(chosen.values())


def _place_labels(
    fig: Any, ax: Any, points: list[tuple[float, float]], texts: list[str], sizes: list[float]
) -> list[Any]:
    """Label each point where its text overlaps no other label and no marker and stays inside the
    axes (``sizes``: marker areas in points^2): candidate offsets are tried nearest first, farther
    ones with a leader line; where none is free, the one with the fewest overlaps."""
    from matplotlib.transforms import Bbox

    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    centres = [ax.transData.transform(p) for p in points]
    radii = [max(2.0, (s**0.5) / 2) * px for s in sizes]  # marker radii in pixels
    markers = [
        Bbox.from_extents(cx - 0.7 * r, cy - 0.7 * r, cx + 0.7 * r, cy + 0.7 * r) for (cx, cy), r in zip(centres, radii)
    ]
    frame = ax.get_window_extent(renderer)
    taken: list[Any] = []
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)]
    order = sorted(range(len(points)), key=lambda i: (-centres[i][1], centres[i][0]))
    out: list[Any] = [None] * len(points)
    for i in order:
        best = None
        for step in (0, 1, 2.5, 4, 6):
            for ux, uy in directions:
                reach = radii[i] / px * 0.75 + 2 + 9 * step  # in points, beyond the marker's own edge
                ha = "left" if ux > 0 else "right" if ux < 0 else "center"
                va = "bottom" if uy > 0 else "top" if uy < 0 else "center"
                # a leader line always: next to a big marker, a label could be read as its
                arrow = {"arrowstyle": "-", "color": "0.35", "lw": 0.6, "shrinkA": 0, "shrinkB": 1}
                ann = ax.annotate(
                    texts[i],
                    points[i],
                    xytext=(ux * reach, uy * reach),
                    textcoords="offset points",
                    fontsize=7,
                    ha=ha,
                    va=va,
                    arrowprops=arrow,
                )
                box = ann.get_window_extent(renderer).padded(1.5)
                # a label on a label is unreadable; a label on a translucent marker only untidy
                clash = 10 * sum(Bbox.intersection(box, b) is not None for b in taken)
                clash += sum(box.overlaps(m) for j, m in enumerate(markers) if j != i)
                inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                clash += 0 if inside else 100
                if best is None or clash < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (clash, ann, box)
                else:
                    ann.remove()
                if clash == 0:
                    break
            if best is not None and best[0] == 0:
                break
        assert best is not None
        out[i] = best[1]
        taken.append(best[2])
    return out


def accuracy_figure(models: str | Sequence[str] = "*", *, log_x: bool = True) -> Any:
    """Draw top-1 accuracy against GFLOPs, coloured by training recipe, marker area proportional to parameters.

    The chart of Canziani, Paszke and Culurciello 2017, "An Analysis of Deep Neural Network
    Models for Practical Applications" (Fig. 2). ``models`` are wildcards over model names
    (their default ImageNet weights) and weight tags as ``cnnzoo weights list`` prints them
    (``resnet50.tv_in1k,resnet50.tv2_in1k``: the same network under two recipes); weights
    without a published top-1 are left off. Each training recipe has its own colour (see
    :func:`recipe_of`): the same network gains several points of top-1 from a longer,
    better-augmented recipe, so only points of one colour compare architectures. GFLOPs
    are measured (:func:`cnnzoo.count_flops`, torchvision's convention) at the size the
    accuracy was measured at. Labels are placed so that none overlaps another. Needs
    matplotlib (``pip install 'cnnzoo[plot]'``). Returns the figure; ``fig.cnnzoo_rows`` are the
    plotted rows and ``fig.cnnzoo_labels`` their labels.
    """
    Figure = _figure_class()
    rows = []
    for entry in _chosen_entries(models):
        name = entry.architecture
        size = _accuracy_size(entry)
        with torch.device("meta"):
            meta = create_model(name)
        rows.append(
            {
                "model": name,
                "family": get_model_entry(name).family,
                "top1": float(entry.top1),
                "gflops": count_flops(meta, size).gflops,
                "input_size": list(size),
                "params": sum(p.numel() for p in meta.parameters()),
                "tag": entry.tag,
                "recipe": recipe_of(entry),
            }
        )
    if not rows:
        raise InvalidArgumentError(f"no model matching {models!r} has a published top-1 in the catalogue")
    fig = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # a renderer to measure the labels with
    ax = fig.add_subplot()
    known = list(RECIPES.values())  # one colour per recipe in every chart, listed oldest recipe first
    present = {r["recipe"] for r in rows}
    extra = sorted(present - set(known))
    recipes = [r for r in known if r in present] + extra
    colours = {rec: f"C{i % 10}" for i, rec in enumerate(known + extra)}
    area = 6.0  # points^2 per million parameters
    for rec in recipes:
        sel = [r for r in rows if r["recipe"] == rec]
        ax.scatter(
            [r["gflops"] for r in sel],
            [r["top1"] for r in sel],
            s=[r["params"] / 1e6 * area for r in sel],
            alpha=0.45,
            color=colours[rec],
            edgecolors="k",
            linewidths=0.5,
            label=rec,
        )
    for millions in (5, 50, 150):  # marker-size key
        ax.scatter([], [], s=millions * area, color="0.7", edgecolors="k", label=f"{millions}M parameters")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("GFLOPs per image (multiply-adds, torchvision's convention)" + (", log scale" if log_x else ""))
    ax.set_ylabel("ImageNet-1k top-1 accuracy (%) of the published weights")
    fig.suptitle(
        "Accuracy vs. operations of published weights, by training recipe (after Canziani et al. 2017)\n"
        "marker area ∝ parameters; compare architectures within one colour"
    )
    ax.grid(True, which="both", alpha=0.3)
    legend = ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        labelspacing=2.2,
        borderpad=1.2,
        handletextpad=2.0,
        title="training recipe",
        title_fontsize=8,
    )
    for handle in legend.legend_handles[: len(recipes)]:  # recipe entries: one colour swatch size
        handle.set_sizes([40])
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    if log_x:
        lo, hi = min(r["gflops"] for r in rows), max(r["gflops"] for r in rows)
        ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if lo / 2 <= t <= hi * 2]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(lo / 1.6, hi * 2.2)
    low, high = min(r["top1"] for r in rows), max(r["top1"] for r in rows)
    margin = max(1.0, 0.08 * (high - low))
    ax.set_ylim(low - margin, high + 2.5 * margin)  # headroom for the labels of the best models
    fig.canvas.draw()  # the layout is fixed before the labels are measured
    fig.set_layout_engine("none")
    several = len({r["model"] for r in rows}) < len(rows)
    texts = [r["tag"] if several else r["model"] for r in rows]
    fig.cnnzoo_labels = _place_labels(
        fig, ax, [(r["gflops"], r["top1"]) for r in rows], texts, [r["params"] / 1e6 * area for r in rows]
    )
    fig.cnnzoo_rows = rows
    return fig


def accuracy_chart(
    output: str | os.PathLike[str], models: str | Sequence[str] = "*", *, log_x: bool = True
) -> list[dict[str, Any]]:
    """Write :func:`accuracy_figure` as a PNG (atomically) and return its rows."""
    fig = accuracy_figure(models, log_x=log_x)
    with atomic_path(output_file(output)) as tmp:
        fig.savefig(tmp, format="png")
    return fig.cnnzoo_rows


def _chart_rows(table: ModelSummary) -> list[LayerInfo]:
    # the layers a lecture slide lists: those with weights, the pooling layers and, at a shallow
    # depth, the blocks that hold them (an Inception module, a residual stage), as they ran
    return [
        r
        for r in table.layers
        if r.leaf and r.call >= 1 and (r.kind in ("weight", "pool") or (r.kind == "container" and r.params))
    ]


def _plain(value: float, _pos: Any = None) -> str:
    """An axis number as a reader says it: 0, 750, 12k, 3.5M, 1.2G (no ``1e8`` offset)."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def layer_chart(
    model: nn.Module | str | ModelSummary,
    output: str | os.PathLike[str],
    input_size: Sequence[int] | int | None = None,
    depth: int | None = None,
) -> list[LayerInfo]:
    """Draw the per-layer bars of a network: parameters, MACs, activations and receptive field.

    One bar per layer with weights and per pooling layer, in the order they run (the
    classic VGG-16 slide of memory and parameters per layer, for any model): parameters,
    multiply-accumulates, the values of its output for one image (what the slides call
    memory; x 4 bytes in float32), and the receptive field of its output growing with
    depth, against the input size. ``depth`` (as ``cnnzoo info --depth``) draws the modules
    at that nesting depth, a block (an Inception module, a residual stage) as one bar;
    the default is every layer. ``model`` is a module, a registered name or a
    :class:`~cnnzoo.analysis.summary.ModelSummary` (drawn at its own depth). Numbers are
    plain (``12M``, not an axis offset). Needs matplotlib (``pip install 'cnnzoo[plot]'``).
    Returns the plotted rows.
    """
    Figure = _figure_class()
    from matplotlib.ticker import FuncFormatter

    table = (
        model if isinstance(model, ModelSummary) else summary(model, input_size, depth=64 if depth is None else depth)
    )
    rows = _chart_rows(table)
    if not rows:
        raise InvalidArgumentError(f"{table.model} has no layer with weights or pooling to chart")
    x = list(range(len(rows)))
    colours = ["C0" if r.kind == "weight" else "C1" if r.kind == "pool" else "C4" for r in rows]
    longest = max(len(r.name) for r in rows)
    fig = Figure(figsize=(max(8.0, 0.24 * len(rows) + 3), 9 + 0.07 * longest), dpi=100, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True, height_ratios=[1, 1, 1, 1.2])
    panels = [
        ("parameters", [r.params for r in rows]),
        ("MACs", [r.macs for r in rows]),
        ("output values\n(activations)", [r.neurons or 0 for r in rows]),
    ]
    for ax, (label, values) in zip(axes, panels):
        ax.bar(x, values, color=colours)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(_plain))
    rf = [max(r.receptive_field.size) if r.receptive_field else float("nan") for r in rows]
    axes[3].plot(x, rf, "o-", color="C2", markersize=3, label="receptive field of the output")
    axes[3].yaxis.set_major_formatter(FuncFormatter(_plain))
    if len(table.input_size) == 3:
        side = max(table.input_size[1:])
        axes[3].axhline(side, color="0.5", linestyle="--", linewidth=1, label=f"input size ({side} px)")
        if any(v > side for v in rf):  # what a field larger than the image means
            axes[3].axhspan(
                side,
                max(v for v in rf if v == v) * 1.05,
                color="0.9",
                zorder=0,
                label="field larger than the image: it reaches into the zero padding",
            )
        axes[3].legend(loc="upper left", fontsize=8)
    axes[3].set_ylabel("receptive field (px)")
    axes[3].grid(alpha=0.3)
    step = max(1, len(rows) // 80)
    axes[3].set_xticks(x[::step], [r.name for r in rows][::step], rotation=90, fontsize=7)
    axes[3].set_xlim(-0.7, len(rows) - 0.3)
    kinds = "blue: with weights, orange: pooling" + (", purple: blocks" if "C4" in colours else "")
    shown = f"modules to depth {depth}" if depth else "every layer"
    fig.suptitle(
        f"{table.model} at {'x'.join(map(str, table.input_size))}, {table.totals['depth']} weight layers "
        f"deep: per layer ({shown})\n{kinds}"
    )
    with atomic_path(output_file(output)) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.3)  # rotated names never clipped
    return rows
