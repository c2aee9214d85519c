"""Export a model for deployment, checked against PyTorch before the file is kept.

Three formats, each with a dynamic batch dimension:

* ``export``: a ``torch.export`` ExportedProgram (``.pt2``), PyTorch's own format for
  ahead-of-time compilation and deployment (the successor of TorchScript);
* ``onnx``: ONNX through PyTorch's ``torch.export``-based (dynamo) exporter, which needs
  ``onnxscript`` (``pip install 'cnnzoo[export]'``); checked with ``onnxruntime``;
* ``torchscript``: ``torch.jit.trace`` (legacy: TorchScript is deprecated in PyTorch).

Every export is run on a fresh random batch of another size than the example it was made
with (proving the dynamic batch) and compared with the eager model; a mismatch writes no file.
Each file carries what a deployment needs besides the graph (:func:`export_metadata`): the
class names and the preprocessing, as ONNX ``metadata_props`` or as the ``.pt2``'s and
TorchScript archive's extra files, read back with the format's own loader before the file is kept.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import typing
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import torch
from torch import nn

from ..analysis.trace import classifier, resolve_input_size
from ..atomic import atomic_path, output_file
from ..errors import ExportError, MissingDependencyError
from ..models.arguments import checked
from .arguments import PathArg

__all__ = ["FORMATS", "export", "format_for", "export_metadata", "PREPROCESSING_KEYS"]

#: the export formats: torch.export, ONNX, TorchScript
Format = Literal["export", "onnx", "torchscript"]
FORMATS: tuple[str, ...] = typing.get_args(Format)
_SUFFIXES = {
    ".pt2": "export",
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".ts": "torchscript",
    ".torchscript": "torchscript",
}
#: the batch the model is exported with, and the one the exported file is checked on
EXAMPLE_BATCH, CHECK_BATCH = 2, 3
#: the ``pretrained_cfg`` entries that say how an image becomes the model's input (see apps.predict.preprocess)
PREPROCESSING_KEYS = ("input_size", "resize_size", "crop_pct", "crop_mode", "interpolation", "mean", "std")


def export_metadata(model: nn.Module) -> dict[str, str]:
    """What an exported file carries besides the graph, as text (ONNX metadata is strings).

    ``cnnzoo.model`` (the architecture), ``cnnzoo.weights`` (the tag or file, where there is
    one), ``cnnzoo.classes`` (a JSON list of the class names, where they are known) and
    ``cnnzoo.preprocessing`` (a JSON object: ``input_size``, ``resize_size`` or ``crop_pct``,
    ``crop_mode``, ``interpolation``, ``mean``, ``std``), all from ``model.pretrained_cfg``.
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    meta = {"cnnzoo.model": str(cfg.get("architecture") or getattr(model, "arch_name", type(model).__name__))}
    weights = cfg.get("tag") or cfg.get("file")
    if weights:
        meta["cnnzoo.weights"] = str(weights)
    if cfg.get("label_names"):
        meta["cnnzoo.classes"] = json.dumps([str(c) for c in cfg["label_names"]])
    prep = {
        k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items() if k in PREPROCESSING_KEYS and v is not None
    }
    if prep:
        meta["cnnzoo.preprocessing"] = json.dumps(prep)
    return meta


@checked
def format_for(output: PathArg, format: Format | None = None) -> str:
    """The export format: ``format`` if given, else the output's suffix (``.pt2``, ``.onnx``,
    ``.pt``), else ``export``."""
    if format is None:
        return _SUFFIXES.get(Path(output).suffix.lower(), "export")
    return format


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # the exporters narrate their progress and warn about their own deprecations; the report
    # of export() says what matters (format, check, difference)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _dynamic_batch() -> dict[str, dict[int, Any]]:
    return {"x": {0: torch.export.Dim("batch", min=1, max=65536)}}


@checked
def export(
    model: nn.Module,
    output: PathArg,
    format: Format | None = None,
    *,
    input_size: Sequence[int] | None = None,
    opset: int | None = None,
    atol: float = 1e-4,
    rtol: float = 1e-3,
) -> dict[str, Any]:
    """Export ``model`` to ``output`` and check the file against PyTorch; write it atomically.

    ``format`` is ``"export"`` (torch.export, ``.pt2``), ``"onnx"`` (the dynamo ONNX
    exporter, opset ``opset`` or torch's default) or ``"torchscript"`` (legacy), by default
    from the output's suffix. The model is exported with a batch of 2 and a dynamic batch
    dimension, then the file is run on a fresh batch of 3 (ONNX through onnxruntime) and
    must agree elementwise: ``|exported - pytorch| <= atol + rtol * |pytorch|``; otherwise
    :class:`~cnnzoo.errors.ExportError` and no file. Returns what was checked.
    """
    classifier(model, "export (its check compares the scores)")
    fmt = format_for(output, format)
    path = output_file(output)
    size = resolve_input_size(model, input_size)
    param = next(model.parameters())
    example = torch.randn(EXAMPLE_BATCH, *size, device=param.device, dtype=param.dtype)
    check = torch.randn(CHECK_BATCH, *size, device=param.device, dtype=param.dtype)
    meta = export_metadata(model)
    report: dict[str, Any] = {
        "format": fmt,
        "input_size": list(size),
        "atol": atol,
        "rtol": rtol,
        "example_batch": EXAMPLE_BATCH,
        "checked_batch": CHECK_BATCH,
        "metadata": meta,
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reference = model(check).float().cpu()
        writer = {"export": _write_exported_program, "onnx": _write_onnx, "torchscript": _write_torchscript}[fmt]
        _check_space(model, path)
        with atomic_path(path) as tmp:
            got, how, carried = writer(model, example, check, tmp, opset, meta)
            _compare(got, reference, atol, rtol, report, how)
            if carried != meta:  # read back by the format's own loader: what a deployment will see
                raise ExportError(f"the {fmt} file does not carry its metadata as written; nothing was written")
        report["path"] = str(path)
    finally:
        model.train(was_training)
    return report


def _check_space(model: nn.Module, path: Path) -> None:
    """Refuse before exporting when the file cannot fit: the exporters' C++ writers abort the whole
    process (SIGABRT) on a full disk instead of raising, leaving their temporary file behind."""
    tensors = [*model.parameters(), *model.buffers()]
    needed = sum(t.numel() * t.element_size() for t in tensors) * 11 // 10 + (1 << 20)  # the weights + 10 % + 1 MiB
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise ExportError(
            f"cannot write {path}: {os.strerror(errno.ENOSPC)} ({free / 2**20:,.1f} MiB free, the "
            f"exported model needs about {needed / 2**20:,.1f} MiB); nothing was written"
        )


def _write_exported_program(
    model: nn.Module, example: torch.Tensor, check: torch.Tensor, tmp: Path, opset: int | None, meta: dict[str, str]
) -> tuple[torch.Tensor, str, dict[str, str]]:
    try:
        with _quiet():
            program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())
    except Exception as e:  # noqa: BLE001 - torch.export raises many kinds of errors on untraceable code
        raise ExportError(f"torch.export cannot export {type(model).__name__}: {str(e).splitlines()[0]}") from None
    with open(tmp, "wb") as f:  # a file object: torch.export.save expects a .pt2 name otherwise
        torch.export.save(program, f, extra_files=meta)
    carried = dict.fromkeys(meta, "")
    with open(tmp, "rb") as f, _quiet(), torch.no_grad():
        got = torch.export.load(f, extra_files=carried).module()(check)
    return got.float().cpu(), "torch.export.load", carried


def _write_onnx(
    model: nn.Module, example: torch.Tensor, check: torch.Tensor, tmp: Path, opset: int | None, meta: dict[str, str]
) -> tuple[torch.Tensor, str, dict[str, str]]:
    for package in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(package)
        except ImportError:
            raise MissingDependencyError(
                f"ONNX export needs onnx, onnxscript and onnxruntime ({package} is "
                "missing): pip install 'cnnzoo[export]'"
            ) from None
    import onnx
    import onnxruntime

    kwargs: dict[str, Any] = {
        "dynamo": True,
        "dynamic_shapes": _dynamic_batch(),
        "input_names": ["input"],
        "output_names": ["output"],
    }
    if opset is not None:
        kwargs["opset_version"] = opset
    try:
        with _quiet(), torch.no_grad():
            # dynamo=True always returns an ONNXProgram (only the legacy exporter returns None)
            program = cast(torch.onnx.ONNXProgram, torch.onnx.export(model, (example,), **kwargs))
            program.model.metadata_props.update(meta)  # the model's metadata_props (ONNX IR, Model)
            program.save(str(tmp))
    except Exception as e:  # noqa: BLE001 - the exporter's errors have no common public base
        raise ExportError(f"the ONNX exporter cannot export {type(model).__name__}: {str(e).splitlines()[0]}") from None
    onnx.checker.check_model(str(tmp))
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = torch.from_numpy(session.run(None, {name: check.float().cpu().numpy()})[0])
    carried = {k: v for k, v in session.get_modelmeta().custom_metadata_map.items() if k in meta}
    return got, "onnxruntime", carried


def _write_torchscript(
    model: nn.Module, example: torch.Tensor, check: torch.Tensor, tmp: Path, opset: int | None, meta: dict[str, str]
) -> tuple[torch.Tensor, str, dict[str, str]]:
    carried = dict.fromkeys(meta, "")
    with _quiet(), torch.no_grad():
        # check_trace=False: the check below, on another batch size, is the one that counts
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(tmp), _extra_files=meta)
        got = torch.jit.load(str(tmp), map_location=check.device, _extra_files=carried)(check)
    return (
        got.float().cpu(),
        "torch.jit.load",
        {k: v.decode() if isinstance(v, bytes) else v for k, v in carried.items()},
    )


def _compare(got: torch.Tensor, ref: torch.Tensor, atol: float, rtol: float, report: dict[str, Any], how: str) -> None:
    if got.shape != ref.shape:
        raise ExportError(f"the exported model returns shape {tuple(got.shape)}, PyTorch {tuple(ref.shape)}")
    diff = (got - ref).abs()
    report.update(checked_with=how, max_abs_diff=float(diff.max()))
    if not bool((diff <= atol + rtol * ref.abs()).all()):
        raise ExportError(
            f"the exported model differs from PyTorch by up to {float(diff.max()):.3g} "
            f"(tolerance {atol} + {rtol} x |output|); the file was not written"
        )
