"""The lecture-hall tools around a model: predict on image files, benchmark, chart, export.

Kept apart from :mod:`cnnzoo.analysis` (which looks inside a network) because these deal
with the world outside it: image files and their preprocessing, clocks and memory, plots
and exported files. Each is a plain function that the CLI calls. torchvision, matplotlib,
onnx and onnxruntime are imported only inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import re
import statistics
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import (DataError, DeviceError, ExportError, InvalidArgumentError, MissingDependencyError)

__all__ = ["preprocess", "predict", "saliency_overlay", "benchmark", "accuracy_chart", "export"]


def _write_atomic(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    if path.is_dir():
        raise InvalidArgumentError(f"{path} is a directory; give a file name")
    if not path.parent.exists():
        raise InvalidArgumentError(f"directory {path.parent} does not exist")
    # a fresh name beside the target (same file system, so the rename is atomic), created
    # by the writer with the usual permissions
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---------------------------------------------------------------- images and predictions
def _cfg(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None)
    if not cfg or "input_size" not in cfg:
        raise InvalidArgumentError("the model has no pretrained_cfg with its preprocessing; build it "
                                   "with cnnzoo.create_model(name, pretrained=...)")
    return cfg


def preprocess(path: str | os.PathLike[str], cfg: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an image file and prepare it as the weights expect: ``(input, display)``.

    Decoded with ``torchvision.io.decode_image`` (grayscale for 1-channel models, RGB
    otherwise), shorter side resized to ``resize_size`` (or ``crop / crop_pct``), centre
    cropped to ``input_size`` and normalised with ``mean``/``std``: torchvision's and timm's
    evaluation transform. ``display`` is the cropped image in [0, 1] before normalisation.
    """
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    chans, height, width = cfg["input_size"]
    try:
        data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
        img = decode_image(data, mode=ImageReadMode.GRAY if chans == 1 else ImageReadMode.RGB)
    except RuntimeError as e:
        raise DataError(f"cannot decode {path} as an image (JPEG, PNG, GIF, WEBP): {e}") from None
    if chans not in (1, 3):  # an adapted first convolution: RGB repeated cyclically, as its weights
        img = img[[i % 3 for i in range(chans)]]
    x = img.float().div_(255.0)
    resize = cfg.get("resize_size") or int(math.floor(height / float(cfg.get("crop_pct") or 1.0)))
    size = [resize] if isinstance(resize, int) else list(resize)
    interp = InterpolationMode(cfg.get("interpolation") or "bilinear")
    x = F.center_crop(F.resize(x, size, interpolation=interp, antialias=True), [height, width])
    display = x.clamp(0, 1)
    mean = torch.tensor(cfg["mean"]).view(-1, 1, 1)
    std = torch.tensor(cfg["std"]).view(-1, 1, 1)
    return (display - mean) / std, display


def predict(model: nn.Module, images: Sequence[str | os.PathLike[str]], *, topk: int = 5) -> list[dict[str, Any]]:
    """Top-k classes and probabilities for image files, with the weights' own preprocessing.

    ``model`` comes from ``cnnzoo.create_model(name, pretrained=...)``: its
    ``pretrained_cfg`` gives the preprocessing and the class names (``label_names``).
    Returns one ``{"image", "top": [{"index", "label", "prob"}, ...]}`` per file.
    """
    cfg = _cfg(model)
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise InvalidArgumentError(f"topk must be a positive integer, got {topk!r}")
    if not images:
        raise InvalidArgumentError("give at least one image file")
    labels = cfg.get("label_names")
    param = next(model.parameters())
    batch = torch.stack([preprocess(p, cfg)[0] for p in images]).to(param.device, param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            probs = torch.softmax(model(batch).float(), dim=1).cpu()
    finally:
        model.train(was_training)
    k = min(topk, probs.shape[1])
    top_p, top_i = probs.topk(k, dim=1)
    results = []
    for path, ps, idx in zip(images, top_p.tolist(), top_i.tolist()):
        top = [{"index": i, "label": labels[i] if labels and i < len(labels) else str(i), "prob": p}
               for p, i in zip(ps, idx)]
        results.append({"image": str(path), "top": top})
    return results


def _hot(s: torch.Tensor) -> torch.Tensor:
    # black -> red -> yellow -> white, the "hot" colour map of the saliency figures
    return torch.stack([(3 * s).clamp(0, 1), (3 * s - 1).clamp(0, 1), (3 * s - 2).clamp(0, 1)])


def saliency_overlay(model: nn.Module, image: str | os.PathLike[str], output: str | os.PathLike[str], *,
                     target: int | None = None, smoothgrad_samples: int = 0) -> Path:
    """Write a PNG: the preprocessed image beside it with its gradient saliency overlaid.

    The map is :func:`cnnzoo.saliency` (Simonyan et al. 2014, Sec. 3.1) for ``target``
    (default: the predicted class), scaled to [0, 1] and shown in a hot colour map. Small
    inputs (LeNet's 32x32) are enlarged so the PNG is at least 224 pixels high. Written
    with ``torchvision.io.encode_png`` (no matplotlib), atomically.
    """
    from torchvision.io import encode_png

    from .analysis import saliency

    cfg = _cfg(model)
    x, display = preprocess(image, cfg)
    sal = saliency(model, x, target=target, smoothgrad_samples=smoothgrad_samples).detach().float().cpu()
    sal = sal / sal.max() if sal.max() > 0 else sal
    rgb = display[:3] if display.shape[0] >= 3 else display[:1].expand(3, -1, -1)
    overlay = 0.45 * rgb + 0.55 * _hot(sal)
    picture = torch.cat([rgb, torch.ones(3, rgb.shape[1], 2), overlay], dim=2)
    scale = max(1, math.ceil(224 / picture.shape[1]))
    picture = picture.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    png = encode_png((picture * 255).round().clamp(0, 255).to(torch.uint8))

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(png.numpy().tobytes())

    return _write_atomic(output, write)


# ---------------------------------------------------------------- benchmark
def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DeviceError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{device}' asked for, but CUDA is not available; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{device}' does not exist: {torch.cuda.device_count()} GPU(s) visible")
    elif dev.type != "cpu":
        raise DeviceError(f"device '{device}' is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def _autocast(dev: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and dev.type != "cuda":
        raise DeviceError("fp16 needs CUDA; use bf16 or fp32 on the CPU")
    if precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU does not support bf16; use fp16 or fp32")
    if precision not in ("bf16", "fp16"):
        raise InvalidArgumentError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    return torch.autocast(dev.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


class _PeakMemory:
    """Peak memory of a block: CUDA's max_memory_allocated, or the peak RSS growth on Linux.

    On the CPU the kernel's high-water mark (VmHWM) is reset through /proc/self/clear_refs
    and read afterwards: the growth of the resident set over its size at the start (after
    returning freed heap pages with malloc_trim). It counts only new pages, so memory the
    process already held and reuses is not in it: a lower bound. None where neither works.
    """

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev
        self.kind: str | None = None
        self.base = 0
        self.peak_mb: float | None = None

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        raise OSError(key)

    def __enter__(self) -> _PeakMemory:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            self.kind = "cuda_max_memory_allocated"
        else:
            gc.collect()
            with contextlib.suppress(OSError, AttributeError):
                # give freed heap pages back to the kernel (glibc), so that memory an earlier
                # model left behind does not hide this one's growth
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # reset VmHWM to the current RSS
                self.base = self._status("VmRSS:")
                self.kind = "cpu_peak_rss_growth"
            except OSError:
                self.kind = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.kind == "cuda_max_memory_allocated":
            torch.cuda.synchronize(self.dev)
            self.peak_mb = torch.cuda.max_memory_allocated(self.dev) / 2**20
        elif self.kind == "cpu_peak_rss_growth":
            self.peak_mb = max(0, self._status("VmHWM:") - self.base) / 2**20


def _timed(fn: Callable[[], Any], dev: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs, synchronised."""
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def benchmark(models: str | Sequence[str] = "*", *, device: str = "auto", batch_size: int | None = None,
              precision: str = "fp32", channels_last: bool = False, compile: bool = False,
              train: bool = False, warmup: int = 2, repeats: int = 10,
              input_size: Sequence[int] | None = None, timing: bool = True,
              progress: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Parameters, GFLOPs, throughput, latency and peak memory of registered models.

    For each model: inference images/s and median batch latency (and with ``train`` the
    median optimiser-step time), after ``warmup`` runs, medians over ``repeats``, with CUDA
    synchronisation; peak memory as described in the result's ``memory_kind``. Random
    weights and inputs (speed does not depend on them). ``timing=False`` gives only the
    counts and the published top-1 (the data of :func:`accuracy_chart`). ``batch_size``
    defaults to 64 on CUDA, 8 on the CPU.
    """
    import cnnzoo

    from .analysis import count_flops
    from .models.googlenet import googlenet_loss

    names = cnnzoo.list_models(list(models) if not isinstance(models, str) else models)
    if not names:
        raise InvalidArgumentError(f"no model matches {models!r} (cnnzoo list shows every model)")
    for arg, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(f"{arg} must be an integer >= {low}, got {value!r}")
    dev = _device(device)
    if batch_size is None:
        batch_size = 64 if dev.type == "cuda" else 8
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    _autocast(dev, precision)  # reject a bad precision before building anything
    top1 = _published_top1()
    results = []
    for name in names:
        info = cnnzoo.model_info(name)
        size = tuple(input_size) if input_size else tuple(info["input_size"])
        with torch.device("meta"):
            meta = cnnzoo.create_model(name)
        row: dict[str, Any] = {
            "model": name, "family": info["family"],
            "params": sum(p.numel() for p in meta.parameters()),
            "gflops": count_flops(meta, size).gflops, "input_size": list(size),
            "top1": top1.get(name, (None, None))[0],
            "device": str(dev), "batch_size": batch_size, "precision": precision,
            "channels_last": channels_last, "compile": compile, "warmup": warmup, "repeats": repeats}
        del meta
        if timing:
            row.update(_time_model(name, size, dev, batch_size, precision, channels_last, compile,
                                   train, warmup, repeats, googlenet_loss))
        results.append(row)
        if progress is not None:
            progress(row)
    return results


def _time_model(name: str, size: tuple[int, ...], dev: torch.device, batch_size: int, precision: str,
                channels_last: bool, compile: bool, train: bool, warmup: int, repeats: int,
                loss_fn: Callable[..., torch.Tensor]) -> dict[str, Any]:
    import cnnzoo

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = cnnzoo.create_model(name).to(dev, memory_format=fmt)
    x = torch.randn(batch_size, *size, device=dev).contiguous(memory_format=fmt)
    fn = torch.compile(model) if compile else model
    out: dict[str, Any] = {}
    try:
        model.eval()
        with _PeakMemory(dev) as mem, torch.inference_mode(), _autocast(dev, precision):
            seconds = _timed(lambda: fn(x), dev, warmup, repeats)
        out.update(infer_latency_ms=seconds * 1e3, infer_images_per_s=batch_size / seconds,
                   peak_memory_mb=mem.peak_mb, memory_kind=mem.kind)
        if train:
            model.train()
            target = torch.randint(0, model.num_classes, (batch_size,), device=dev)
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            scaler = torch.amp.GradScaler(dev.type, enabled=precision == "fp16")

            def step() -> None:
                opt.zero_grad(set_to_none=True)
                with _autocast(dev, precision):
                    loss = loss_fn(fn(x), target)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()

            with _PeakMemory(dev) as mem:
                seconds = _timed(step, dev, warmup, repeats)
            out.update(train_step_ms=seconds * 1e3, train_images_per_s=batch_size / seconds,
                       train_peak_memory_mb=mem.peak_mb)
    finally:
        del model, fn, x
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return out


# ---------------------------------------------------------------- the accuracy chart
def _accuracy_size(entry: Any) -> tuple[int, int, int]:
    # a few timm results are published at a larger test size than the weights' default
    # input (the catalogue says so in its notes); the chart puts them at that size's cost
    m = re.search(r"published accuracy is at .*?(\d+)x(\d+)", entry.notes or "")
    return (entry.input_size[0], int(m.group(1)), int(m.group(2))) if m else tuple(entry.input_size)


def _published_top1() -> dict[str, tuple[float, Any]]:
    """Model name -> (top-1 of its default ImageNet weights, catalogue entry), where published."""
    from .catalogue import CATALOGUE

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
    import cnnzoo

    from .analysis import count_flops

    names = set(cnnzoo.list_models(list(models) if not isinstance(models, str) else models))
    rows = []
    for name, (top1, entry) in _published_top1().items():
        if name not in names:
            continue
        size = _accuracy_size(entry)
        with torch.device("meta"):
            meta = cnnzoo.create_model(name)
        rows.append({"model": name, "family": cnnzoo.model_info(name)["family"], "top1": top1,
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
    _write_atomic(output, lambda tmp: fig.savefig(tmp, format="png"))
    return rows


# ---------------------------------------------------------------- export
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
    from .analysis import _input_size

    size = _input_size(model, input_size)
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
        report["path"] = str(_write_atomic(output, write))
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
