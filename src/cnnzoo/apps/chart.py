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
from ..weights.catalogue import CATALOGUE

__all__ = ["published_top1", "accuracy_chart", "layer_chart"]


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


def published_top1() -> dict[str, tuple[float, Any]]:
    """Model name -> (top-1 of its default ImageNet weights, catalogue entry), where published."""
    out = {}
    for e in CATALOGUE.values():
        if e.default and e.top1 is not None and e.dataset.startswith("ImageNet"):
            out[e.architecture] = (float(e.top1), e)
    return out


def accuracy_chart(output: str | os.PathLike[str], models: str | Sequence[str] = "*", *,
                   log_x: bool = True) -> list[dict[str, Any]]:
    """Draw top-1 accuracy against GFLOPs, marker area proportional to parameters.

    The chart of Canziani, Paszke and Culurciello 2017, "An Analysis of Deep Neural Network
    Models for Practical Applications" (Fig. 2), for the default ImageNet weights in the
    catalogue whose top-1 is published; models without one are left off. GFLOPs are
    measured (:func:`cnnzoo.count_flops`, torchvision's convention) at the size the
    accuracy was measured at. Needs matplotlib (``pip install 'cnnzoo[plot]'``). Returns
    the plotted rows.
    """
    Figure = _figure_class()
    names = set(list_models(list(models) if not isinstance(models, str) else models))
    rows = []
    for name, (top1, entry) in published_top1().items():
        if name not in names:
            continue
        size = _accuracy_size(entry)
        with torch.device("meta"):
            meta = create_model(name)
        rows.append({"model": name, "family": get_model_entry(name).family, "top1": top1,
                     "gflops": count_flops(meta, size).gflops, "input_size": list(size),
                     "params": sum(p.numel() for p in meta.parameters()), "tag": entry.tag})
    if not rows:
        raise InvalidArgumentError(f"no model matching {models!r} has a published top-1 in the catalogue")
    fig = Figure(figsize=(11, 7), dpi=110)
    ax = fig.add_subplot()
    families = sorted({r["family"] for r in rows})
    colours = {f: c for f, c in zip(families, [f"C{i}" for i in range(10)] * 2)}
    area = 6.0  # points^2 per million parameters
    for fam in families:
        sel = [r for r in rows if r["family"] == fam]
        ax.scatter([r["gflops"] for r in sel], [r["top1"] for r in sel], s=[r["params"] / 1e6 * area for r in sel],
                   alpha=0.45, color=colours[fam], edgecolors="k", linewidths=0.5, label=fam)
    for r in rows:
        ax.annotate(r["model"], (r["gflops"], r["top1"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    for millions in (5, 50, 150):  # marker-size key
        ax.scatter([], [], s=millions * area, color="0.7", edgecolors="k", label=f"{millions}M params")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("GFLOPs per image (multiply-adds, torchvision's convention)" + (", log scale" if log_x else ""))
    ax.set_ylabel("ImageNet-1k top-1 accuracy (%) of the published weights")
    ax.set_title("Accuracy vs. operations; marker area ∝ parameters (after Canziani et al. 2017)")
    ax.grid(True, which="both", alpha=0.3)
    legend = ax.legend(loc="lower right", fontsize=8, labelspacing=1.3, borderpad=1.0)
    for handle in legend.legend_handles[:len(families)]:  # family entries: one colour swatch size
        handle.set_sizes([40])
    if log_x:
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

        ax.xaxis.set_major_locator(FixedLocator([0.2, 0.5, 1, 2, 5, 10, 20, 50]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    with atomic_path(output_file(output)) as tmp:
        fig.savefig(tmp, format="png")
    return rows


def _chart_rows(table: ModelSummary) -> list[LayerInfo]:
    # the layers a lecture slide lists: those with weights and the pooling layers, as they ran
    return [r for r in table.layers if r.leaf and r.call >= 1 and r.kind in ("weight", "pool")]


def layer_chart(model: nn.Module | str | ModelSummary, output: str | os.PathLike[str],
                input_size: Sequence[int] | int | None = None) -> list[LayerInfo]:
    """Draw the per-layer bars of a network: parameters, MACs, activations and receptive field.

    One bar per layer with weights and per pooling layer, in the order they run (the
    classic VGG-16 slide of memory and parameters per layer, for any model): parameters,
    multiply-accumulates, the values of its output for one image (what the slides call
    memory; x 4 bytes in float32), and the receptive field of its output growing with
    depth, against the input size. ``model`` is a module, a registered name or a
    :class:`~cnnzoo.analysis.summary.ModelSummary` made at a depth that shows the layers.
    Needs matplotlib (``pip install 'cnnzoo[plot]'``). Returns the plotted rows.
    """
    Figure = _figure_class()
    table = model if isinstance(model, ModelSummary) else summary(model, input_size, depth=64)
    rows = _chart_rows(table)
    if not rows:
        raise InvalidArgumentError(f"{table.model} has no layer with weights or pooling to chart")
    x = list(range(len(rows)))
    colours = ["C0" if r.kind == "weight" else "C1" for r in rows]
    fig = Figure(figsize=(max(8.0, 0.22 * len(rows) + 3), 10), dpi=100, layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    panels = [("parameters", [r.params for r in rows]), ("MACs", [r.macs for r in rows]),
              ("output values (activations)", [r.neurons or 0 for r in rows])]
    for ax, (label, values) in zip(axes, panels):
        ax.bar(x, values, color=colours)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    rf = [max(r.receptive_field.size) if r.receptive_field else float("nan") for r in rows]
    axes[3].plot(x, rf, "o-", color="C2", markersize=3)
    if len(table.input_size) == 3:
        axes[3].axhline(max(table.input_size[1:]), color="0.5", linestyle="--", linewidth=1, label="input size")
        axes[3].legend(loc="upper left", fontsize=8)
    axes[3].set_ylabel("receptive field (px)")
    axes[3].grid(alpha=0.3)
    step = max(1, len(rows) // 60)
    axes[3].set_xticks(x[::step], [r.name for r in rows][::step], rotation=90, fontsize=7)
    fig.suptitle(f"{table.model} at {'x'.join(map(str, table.input_size))}: per layer (blue: with weights, "
                 f"orange: pooling), depth {table.totals['depth']}")
    with atomic_path(output_file(output)) as tmp:
        fig.savefig(tmp, format="png")
    return rows
