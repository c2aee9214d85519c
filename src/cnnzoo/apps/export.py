"""Export a model to ONNX or TorchScript, checked against PyTorch before the file is kept."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..analysis.trace import resolve_input_size
from ..atomic import atomic_path, output_file
from ..errors import ExportError, InvalidArgumentError, MissingDependencyError

__all__ = ["export"]


@contextlib.contextmanager
def _quiet_deprecations() -> Iterator[None]:
    # torch.jit.trace and the TorchScript-based ONNX exporter warn that they are deprecated;
    # they still are the exporters that work without extra packages (see export())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(deprecated|will be removed|legacy TorchScript).*")
        yield


def export(model: nn.Module, output: str | os.PathLike[str], format: str = "onnx", *,
           input_size: Sequence[int] | None = None, opset: int | None = None,
           atol: float = 1e-4, rtol: float = 1e-3) -> dict[str, Any]:
    """Export to ONNX or TorchScript, check against PyTorch, and write the file atomically.

    The check runs the exported file on a fresh random batch of two (ONNX through
    onnxruntime when it is installed, TorchScript through ``torch.jit.load``) and requires
    ``|exported - pytorch| <= atol + rtol * |pytorch|`` elementwise (fp32: 1e-4 and 1e-3);
    otherwise :class:`~cnnzoo.errors.ExportError` and no file. ONNX uses the TorchScript-based
    exporter with a dynamic batch axis and needs ``onnx`` (``pip install 'cnnzoo[export]'``).
    Returns what was checked.
    """
    if format not in ("onnx", "torchscript"):
        raise InvalidArgumentError(f"format must be 'onnx' or 'torchscript', got {format!r}")
    path = output_file(output)
    size = resolve_input_size(model, input_size)
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    example = torch.randn(1, *size, device=param.device, dtype=param.dtype)
    check = torch.randn(2, *size, device=param.device, dtype=param.dtype)
    report: dict[str, Any] = {"format": format, "input_size": list(size), "atol": atol, "rtol": rtol}
    try:
        with torch.no_grad():
            reference = model(check).float().cpu()
        if format == "torchscript":
            def write(tmp: str) -> None:
                with _quiet_deprecations(), torch.no_grad():
                    # check_trace=False: the check below, on another batch size, is the one that counts
                    torch.jit.save(torch.jit.trace(model, example, check_trace=False), tmp)
                with _quiet_deprecations(), torch.no_grad():
                    got = torch.jit.load(tmp, map_location=param.device)(check).float().cpu()
                _compare(got, reference, atol, rtol, report, "torch.jit.load")
        else:
            def write(tmp: str) -> None:
                _onnx_export(model, example, tmp, opset)
                _onnx_check(tmp, check, reference, atol, rtol, report)
        with atomic_path(path) as tmp:
            write(str(tmp))
        report["path"] = str(path)
    finally:
        model.train(was_training)
    return report


def _compare(got: torch.Tensor, ref: torch.Tensor, atol: float, rtol: float, report: dict[str, Any],
             how: str) -> None:
    if got.shape != ref.shape:
        raise ExportError(f"the exported model returns shape {tuple(got.shape)}, PyTorch {tuple(ref.shape)}")
    diff = (got - ref).abs()
    report.update(checked_with=how, max_abs_diff=float(diff.max()))
    if not bool((diff <= atol + rtol * ref.abs()).all()):
        raise ExportError(f"the exported model differs from PyTorch by up to {float(diff.max()):.3g} "
                          f"(tolerance {atol} + {rtol} x |output|); the file was not written")


def _onnx_export(model: nn.Module, example: torch.Tensor, path: str, opset: int | None) -> None:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise MissingDependencyError("ONNX export needs onnx (and onnxruntime to check the file): "
                                     "pip install 'cnnzoo[export]'") from None
    import inspect

    kwargs: dict[str, Any] = {"input_names": ["input"], "output_names": ["output"],
                              "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}}
    if opset is not None:
        kwargs["opset_version"] = opset
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        # the TorchScript-based exporter: no extra package (the torch.export-based default
        # of torch >= 2.9 also needs onnxscript)
        kwargs["dynamo"] = False
    with _quiet_deprecations(), torch.no_grad():
        torch.onnx.export(model, (example,), path, **kwargs)


def _onnx_check(path: str, check: torch.Tensor, reference: torch.Tensor, atol: float, rtol: float,
                report: dict[str, Any]) -> None:
    import onnx

    onnx.checker.check_model(path)
    try:
        import onnxruntime
    except ImportError:
        report.update(checked_with=None, max_abs_diff=None,
                      note="onnxruntime not installed: outputs not compared (pip install 'cnnzoo[export]')")
        warnings.warn("onnxruntime is not installed, so the ONNX file was not checked "
                      "(pip install 'cnnzoo[export]')", stacklevel=3)
        return
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = torch.from_numpy(session.run(None, {name: check.float().cpu().numpy()})[0])
    _compare(got, reference, atol, rtol, report, "onnxruntime")
