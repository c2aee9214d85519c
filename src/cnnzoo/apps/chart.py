"""The accuracy-vs-operations chart of the published weights (after Canziani et al. 2017)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import torch

from ..analysis.flops import count_flops
from ..atomic import atomic_path, output_file
from ..errors import InvalidArgumentError, MissingDependencyError
from ..models.factory import create_model, model_info
from ..models.registry import list_models
from ..weights.catalogue import CATALOGUE

__all__ = ["published_top1", "accuracy_chart"]


def _accuracy_size(entry: Any) -> tuple[int, int, int]:
    # a few timm results are published at a larger test size than the weights' default
    # input (the catalogue says so in its notes); the chart puts them at that size's cost
    m = re.search(r"published accuracy is at .*?(\d+)x(\d+)", entry.notes or "")
    return (entry.input_size[0], int(m.group(1)), int(m.group(2))) if m else tuple(entry.input_size)


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
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("the chart needs matplotlib: pip install 'cnnzoo[plot]'") from None
    names = set(list_models(list(models) if not isinstance(models, str) else models))
    rows = []
    for name, (top1, entry) in published_top1().items():
        if name not in names:
            continue
        size = _accuracy_size(entry)
        with torch.device("meta"):
            meta = create_model(name)
        rows.append({"model": name, "family": model_info(name)["family"], "top1": top1,
                     "gflops": count_flops(meta, size).gflops, "input_size": list(size),
                     "params": sum(p.numel() for p in meta.parameters()), "tag": entry.tag})
    if not rows:
        raise InvalidArgumentError(f"no model matching {models!r} has a published top-1 in the catalogue")
    fig = Figure(figsize=(11, 7), dpi=110)
    FigureCanvasAgg(fig)
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
        handle.set_sizes([40])  # type: ignore[union-attr]
    if log_x:
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

        ax.xaxis.set_major_locator(FixedLocator([0.2, 0.5, 1, 2, 5, 10, 20, 50]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    with atomic_path(output_file(output)) as tmp:
        fig.savefig(tmp, format="png")
    return rows
