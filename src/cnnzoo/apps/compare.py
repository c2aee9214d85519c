"""Several networks side by side: the numbers a lecture compares, measured, never timed.

Each model is built on the meta device (no memory, no weights) and traced once by
:func:`~cnnzoo.analysis.summary`; the accuracy is the catalogue's published top-1 of the
weight tag named with the model (``resnet50.tv_in1k``) or of its default tag.
"""

from __future__ import annotations

import csv
import io
import typing
from collections.abc import Sequence
from typing import Any, Literal

import torch

from ..analysis.summary import summary
from ..errors import InvalidArgumentError, shown
from ..models.arguments import checked
from ..models.factory import create_model, split_model_name
from ..models.registry import get_model_entry, list_models
from .arguments import Options

__all__ = ["compare", "COMPARE_COLUMNS", "format_comparison", "FORMATS", "models_matching"]

#: (key, heading, format) of each column, in order; ``None`` values print as "-"
COMPARE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "{}"),
    ("params_m", "params (M, inference)", "{:#.4g}"),
    ("params_train_m", "params (M, with aux heads)", "{:#.4g}"),
    ("gflops", "GFLOPs", "{:#.4g}"),
    ("depth", "depth", "{}"),
    ("rf", "RF of last map (px)", "{}"),
    ("activation_mb", "activations (MB/image)", "{:.3g}"),
    ("top1", "top-1 (%)", "{:.2f}"),
    ("tag", "weights", "{}"),
    ("input", "input", "{}"),
)
#: the layouts of format_comparison
Format = Literal["table", "csv", "markdown"]
FORMATS: tuple[str, ...] = typing.get_args(Format)


def models_matching(pattern: str | Sequence[str]) -> list[str]:
    """The registered models a wildcard (or any of a list of them) matches; none is an InvalidArgumentError."""
    names = list_models(pattern if isinstance(pattern, str) else list(pattern))
    if not names:
        raise InvalidArgumentError(f"no model matches {shown(pattern)} (cnnzoo list shows every model)")
    return names


def _expand(models: Sequence[str]) -> list[str]:
    """Names as given, a wildcard (``resnet*``) expanded to the registered models it matches."""
    out: list[str] = []
    for name in models:  # a name that is no string or empty is refused by split_model_name, in compare()
        if isinstance(name, str) and any(c in name for c in "*?["):
            out += models_matching(name)
        else:
            out.append(name)
    return out


def _weights_entry(base: str, tag: str | None) -> Any:
    from ..weights.catalogue import default_tag, entry_for

    if tag is None and default_tag(base) is None:
        return None
    return entry_for(base, tag)  # an unknown tag is an UnknownWeightsError listing the model's tags


def compare(
    models: Sequence[str], *, input_size: Sequence[int] | None = None, model_args: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row of measured numbers per model, for a comparison table.

    ``models`` are registered names, optionally with a weight tag (``resnet50.tv_in1k``)
    whose published top-1 is reported (default: the model's default tag), or wildcards.
    Each row has the parameters that run in inference (``params``) and all of them
    (``params_train``: GoogLeNet's auxiliary classifiers count only in training), GFLOPs
    (torchvision's convention: multiply-adds / 1e9), the depth in weight layers, the
    receptive field of the last feature map (``rf``, the larger side, in input pixels),
    the activations of one image (float32 MB) and the top-1. Sizes are at ``input_size``
    (C, H, W), else at the tag's evaluation size, else at the model's own. Nothing is
    timed and no weights are read: every model is built on the meta device.
    """
    names = _expand(models)
    if not names:
        raise InvalidArgumentError("give at least one model to compare")
    rows = []
    for name in names:
        base, tag = split_model_name(name)
        info = get_model_entry(base)  # an unknown name is an UnknownModelError with suggestions
        entry = _weights_entry(base, tag)
        kwargs = dict(model_args or {})
        if entry is not None and entry.num_classes != info.num_classes:
            kwargs.setdefault("num_classes", entry.num_classes)
        with torch.device("meta"):
            model = create_model(base, **kwargs)
        size = tuple(input_size) if input_size is not None else (tuple(entry.input_size) if entry is not None else None)
        table = summary(model, size, depth=1)
        t = table.totals
        fm = t["final_feature_map"]
        field = (fm or {}).get("receptive_field")
        rf = None if not field else max(int(round(v)) for v in field["size"])
        rows.append(
            {
                "model": base,
                "params": t["inference_params"],
                "params_train": t["params"],
                "params_m": t["inference_params"] / 1e6,
                "params_train_m": t["params"] / 1e6,
                "gflops": t["gflops"],
                "macs": t["macs"],
                "depth": t["depth"],
                "rf": rf,
                "rf_layer": (fm or {}).get("name"),
                "activation_mb": t["activation_mb"],
                "top1": None if entry is None else entry.top1,
                "tag": None if entry is None else entry.tag,
                "input_size": list(table.input_size),
                "input": "x".join(map(str, table.input_size)),
            }
        )
    return rows


@checked
def format_comparison(rows: Sequence[Options], format: Format = "table") -> str:
    """The rows of :func:`compare` as an aligned text table, CSV or a Markdown table."""
    heads = [h for _, h, _ in COMPARE_COLUMNS]
    cells = [["-" if r.get(k) is None else f.format(r[k]) for k, _, f in COMPARE_COLUMNS] for r in rows]
    if format == "csv":  # raw numbers, not rounded: a spreadsheet does its own formatting
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        keys = [
            "model",
            "tag",
            "params",
            "params_train",
            "gflops",
            "depth",
            "rf",
            "rf_layer",
            "activation_mb",
            "top1",
            "input",
        ]
        writer.writerow(keys)
        for r in rows:
            writer.writerow(["" if r.get(k) is None else r[k] for k in keys])
        return buf.getvalue().rstrip("\n")
    if format == "markdown":
        align = ["---" if k in ("model", "tag", "input") else "---:" for k, _, _ in COMPARE_COLUMNS]
        lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(align) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])
    widths = [max(len(x) for x in col) for col in zip(heads, *cells)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if k in ("model", "tag", "input") else c.rjust(w)
            for c, w, (k, _, _) in zip(row, widths, COMPARE_COLUMNS)
        ).rstrip()

    return "\n".join([line(heads), *(line(c) for c in cells)])
