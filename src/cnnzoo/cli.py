"""The ``cnnzoo`` command: argument parsing only; every command calls the Python API.

Any :class:`~cnnzoo.errors.CnnzooError` (and a bad argument) becomes one line on stderr
and exit status 2, never a traceback. Each command has an ``_add_<command>`` function that
declares its arguments and a ``_cmd_<command>`` function that runs it; the argument groups that
several commands take (``--model``/``--pretrained``/``--model-arg``, ``--input-size``,
``--device``/``--precision``, ``--json``) are declared once, each by its own function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .device import PRECISIONS

__all__ = ["main", "build_parser"]


class CliError(Exception):
    """A usage error found after parsing (reported like argparse's own)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit status 2, as argparse does
        self.exit(2, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- argument groups shared by commands
def _add_pattern(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")


def _add_json(p: argparse.ArgumentParser, text: str = "print JSON") -> None:
    p.add_argument("--json", action="store_true", help=text)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model-arg",
        dest="model_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument (repeatable), as for train: --model-arg variant=paper",
    )


def _add_model(p: argparse.ArgumentParser, model_help: str, pretrained_help: str, **pretrained: Any) -> None:
    """``--model``, its weights (``--pretrained``) and its constructor arguments (``--model-arg``)."""
    p.add_argument("--model", help=model_help)
    p.add_argument("--pretrained", metavar="TAG|PATH", help=pretrained_help, **pretrained)
    _add_model_args(p)


def _add_input_size(p: argparse.ArgumentParser, text: str = "input size (default: the model's)") -> None:
    p.add_argument("--input-size", type=int, nargs=3, metavar=("C", "H", "W"), help=text)


def _add_device(p: argparse.ArgumentParser, precisions: Sequence[str] = PRECISIONS, precision: str = "auto") -> None:
    """``--device`` and ``--precision``, spelt as for train."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", default=precision, choices=precisions)


# ---------------------------------------------------------------- list / models
def _add_list(sub: Any) -> None:
    p = sub.add_parser(
        "list", help="list the registered models", description="List registered models matching a shell wildcard."
    )
    _add_pattern(p)
    p.add_argument("--family", help="only this family (resnet, vgg, ...)")
    p.add_argument("--pretrained", action="store_true", help="only models with weights")
    _add_json(p)
    p.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    from .models.registry import list_models

    names = list_models(args.pattern, family=args.family)
    if args.pretrained:
        from .weights import list_tags

        names = [n for n in names if list_tags(n)]
    if not names:
        raise CliError(f"no model matches '{args.pattern}' (cnnzoo list shows every model)")
    if args.json:
        print(json.dumps(names))
    else:
        print("\n".join(names))
    return 0


# ---------------------------------------------------------------- weights
def _add_weights(sub: Any) -> None:
    p = sub.add_parser(
        "weights",
        help="list, inspect, download or import pretrained weights",
        description="The pretrained-weights catalogue and the local cache "
        "($CNNZOO_HOME/weights; CNNZOO_HOME defaults to "
        "<torch hub dir>/cnnzoo).",
    )
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION", parser_class=_Parser)
    wsub.required = True
    q = wsub.add_parser(
        "list", help="the catalogue as a table", description="Catalogued weights whose tag or model matches a wildcard."
    )
    _add_pattern(q)
    _add_json(q)
    q = wsub.add_parser(
        "info",
        help="everything about one tag",
        description="Source, URL, hash, preprocessing, accuracy and cache state.",
    )
    q.add_argument("tag", help="a weight tag (resnet50.tv2_in1k) or a model (its default tag)")
    _add_json(q)
    q = wsub.add_parser(
        "download",
        help="download weights into the cache (verified)",
        description="Download and verify weights; files already cached are re-verified, not downloaded again.",
    )
    which = q.add_mutually_exclusive_group(required=True)  # the tags, or --all: argparse refuses neither and both
    which.add_argument("tags", nargs="*", default=[], metavar="TAG", help="tags, models or wildcards")
    which.add_argument("--all", action="store_true", help="every catalogued file")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = wsub.add_parser(
        "import",
        help="copy a local file into the cache under its tag",
        description="For machines that cannot download: check FILE's hash "
        "against the catalogue and copy it into the cache.",
    )
    q.add_argument("tag", help="the weight tag the file is")
    q.add_argument("file", help="the downloaded file")
    p.set_defaults(func=_cmd_weights)


def _cmd_weights(args: argparse.Namespace) -> int:
    from . import weights

    action = args.weights_command
    if action == "list":
        rows = weights.list_weights(args.pattern)
        if not rows:
            raise CliError(f"no weights match '{args.pattern}' (cnnzoo weights list shows all)")
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        table = [("TAG", "SOURCE", "DEFAULT", "TOP-1", "SIZE", "HASH", "CACHED")]
        for r in rows:
            table.append(
                (
                    r["tag"],
                    r["source"],
                    "*" if r["default"] else "",
                    "-" if r["top1"] is None else f"{r['top1']:.2f}",
                    "-" if r["size_mb"] is None else f"{r['size_mb']:.0f}MB",
                    r["hash_status"],
                    "yes" if r["cached"] else "no",
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    elif action == "info":
        record = weights.weights_info(args.tag)
        if args.json:
            print(json.dumps(record, indent=1))
        else:
            for key, value in record.items():
                print(f"{key:>16}: {value}")
    elif action == "download":
        for path in weights.download_weights(["*"] if args.all else args.tags, progress=not args.quiet):
            print(path)
    else:  # import
        print(weights.import_weights(args.tag, args.file))
    return 0


# ---------------------------------------------------------------- train / eval
def _add_train(sub: Any) -> None:
    from .training.config import add_config_options

    p = sub.add_parser(
        "train",
        help="train a model (default: lenet5 on the built-in digits)",
        description="Train a registered model. Every key of a YAML recipe is an option; options override "
        "--config (a shipped recipe by name, a YAML file or a run's config.yaml); with --resume the "
        "checkpoint's settings are the base. Several GPUs: torchrun --nproc-per-node N -m cnnzoo train ...",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "--config",
        help="YAML recipe: a shipped recipe's name (resnet56_cifar10; cnnzoo/recipes/), a file, or a run's config.yaml",
    )
    p.add_argument("--resume", help="continue from a last.pt")
    add_config_options(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .training import train

    options = {k: v for k, v in vars(args).items() if k not in ("func", "command", "config", "resume")}
    if "model_kwargs" in options:
        options["model_kwargs"] = _model_args(options["model_kwargs"], [options.get("model")])
    result = train(config=getattr(args, "config", None), resume=getattr(args, "resume", None), **options)
    if result.interrupted:  # stopped by a signal after saving: 128 + signal number, as the shell reports
        import signal

        return 128 + int(signal.Signals[result.interrupted])
    return 0


def _model_args(items: list[str], models: Sequence[str | None] = ()) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` options as constructor arguments, each typed by the default it has in
    the constructor of the first of ``models`` that takes it (:func:`cnnzoo.limits.parse_model_arg`)."""
    from .errors import CnnzooError, shown
    from .limits import model_arg_defaults, parse_model_arg
    from .models.registry import get_model_entry

    pairs = [item.partition("=") for item in items]
    bad = [k for k, sep, _ in pairs if not sep or not k.isidentifier()]
    if bad:
        raise CliError(f"--model-arg wants KEY=VALUE with KEY an argument name, got {shown(bad[0])}")
    defaults: dict[str, Any] = {}
    for name in models:
        try:  # a wildcard, a file or an unknown name types nothing: its own command says what is wrong
            info = get_model_entry(str(name).partition(".")[0])
        except (CnnzooError, TypeError):
            continue
        defaults = {**model_arg_defaults(info.constructor), **defaults}
    values: dict[str, Any] = {}
    for key, _, text in pairs:
        if key in values:
            raise CliError(f"--model-arg {key} is given twice")
        values[key] = parse_model_arg(key, text, defaults.get(key))
    return values


def _add_eval(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="validation loss / top-1 / top-5 of a checkpoint",
        description="Evaluate a cnnzoo checkpoint (best.pt or last.pt) on the run's "
        "validation data, or on --data with the same classes.",
    )
    p.add_argument("--model", help="the checkpoint's model (checked); default: as recorded")
    p.add_argument("--checkpoint", required=True, help="best.pt / last.pt of a run")
    p.add_argument("--data", help="other data with the same classes: a data spec, or a folder of class folders")
    _add_device(p)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int)
    p.add_argument("--limit-batches", type=int)
    _add_json(p)
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from .training import evaluate_checkpoint

    m = evaluate_checkpoint(
        args.checkpoint,
        args.model,
        data=args.data,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        workers=args.workers,
        limit_batches=args.limit_batches,
    )
    if args.json:
        print(json.dumps(m))
    else:
        print(
            f"{m['model']} on {m['data']} ({int(m['images'])} images): val loss {m['val_loss']:.4f} | "
            f"top-1 {m['val_top1']:.2f}% | top-5 {m['val_top5']:.2f}%"
        )
    return 0


# ---------------------------------------------------------------- info / predict / benchmark / export
def _add_info(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="per-layer table: shapes, parameters, MACs, receptive fields, depth",
        description="Per-layer output shape, neurons, parameters, MACs and receptive field "
        "(size, jump, start), notes where a window does not fit, then totals and "
        "the depth in weight layers. GFLOPs are torchvision's: multiply-adds / 1e9.",
    )
    p.add_argument(
        "model", nargs="+", help="registered model name (cnnzoo list); several: the table of 'cnnzoo compare'"
    )
    _add_input_size(p)
    p.add_argument("--depth", type=int, default=2, help="module nesting depth shown (default 2)")
    _add_model_args(p)
    _add_json(p, "print JSON (layers and totals)")
    p.add_argument(
        "--plot",
        metavar="OUT.png",
        help="also draw per-layer parameters, MACs, activations and receptive field (needs matplotlib)",
    )
    p.add_argument(
        "--html",
        metavar="OUT.html",
        help="also write the model explorer: the graph (folding to "
        "--depth levels) beside this table, one offline HTML file",
    )
    p.set_defaults(func=_cmd_info)


def _meta_model(name: str, model_args: dict[str, Any]) -> Any:
    """A registered model with these constructor arguments, on the meta device (no memory)."""
    import torch

    from .factory import create_model
    from .models.build import split_model_name

    with torch.device("meta"):
        return create_model(split_model_name(name)[0], **model_args)


def _cmd_info(args: argparse.Namespace) -> int:
    from .analysis import summary

    model_args = _model_args(args.model_args, args.model)
    if len(args.model) > 1:  # several models: one row each, as a lecture compares them
        if args.plot:
            raise CliError("--plot draws one model's layers; give one model (or use cnnzoo compare)")
        from .apps.compare import compare, format_comparison

        rows = compare(args.model, input_size=args.input_size, model_args=model_args)
        print(json.dumps(rows, indent=1) if args.json else format_comparison(rows))
        return 0
    (name,) = args.model
    model = _meta_model(name, model_args)
    table = summary(model, args.input_size, depth=args.depth)
    table.model = name + "".join(f" {k}={v}" for k, v in model_args.items())
    print(table.to_json() if args.json else table)
    if args.plot:
        from .apps import layer_chart

        layer_chart(model, args.plot, args.input_size, depth=args.depth)
        print(f"per-layer chart: {args.plot}", file=sys.stderr)
    if args.html:
        from .analysis.explorer import explore

        explore(model, args.input_size, depth=args.depth, table=table).save(args.html)
        print(f"model explorer: {args.html}", file=sys.stderr)
    return 0


def _add_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="several models side by side: parameters, GFLOPs, depth, RF, top-1",
        description="One row per model: parameters (those run in inference, and with auxiliary "
        "heads), GFLOPs (multiply-adds / 1e9), depth in weight layers, receptive field "
        "of the last feature map, activation memory per image and the published top-1 "
        "of a weight tag (resnet50.tv_in1k; default: the model's default tag). Built on "
        "the meta device: nothing is timed, no weights are read.",
    )
    p.add_argument("models", nargs="+", metavar="MODEL", help="names, name.tag or wildcards ('resnet*')")
    _add_input_size(p, "input size for all (default: each tag's evaluation size, else the model's)")
    _add_model_args(p)
    p.add_argument(
        "--format",
        default="table",
        choices=["table", "csv", "markdown", "json"],
        help="table (default), csv, markdown or json",
    )
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from .apps.compare import compare, format_comparison

    rows = compare(args.models, input_size=args.input_size, model_args=_model_args(args.model_args, args.models))
    print(json.dumps(rows, indent=1) if args.format == "json" else format_comparison(rows, args.format))
    return 0


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="classify image files with pretrained weights or a run's checkpoint",
        description="Top-k classes of each image, preprocessed as the weights expect (resize, "
        "centre crop, channels, mean/std), or as a run evaluated for its checkpoint "
        "(its class names too). cnnzoo data samples writes digits to try.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="JPEG/PNG files, or folders of them")
    _add_model(
        p,
        "model name, e.g. lenet5 or resnet50.tv2_in1k (a run's checkpoint names its own)",
        "weight tag, weights file or a run's best.pt/last.pt (default: the default tag)",
    )
    p.add_argument("--topk", type=int, default=5, help="classes shown per image (default 5)")
    p.add_argument(
        "--saliency", metavar="OUT.png", help="write a gradient-saliency overlay PNG (several images: OUT-<image>.png)"
    )
    p.add_argument(
        "--smoothgrad",
        type=int,
        default=16,
        metavar="N",
        help="average the saliency over N noisy copies (SmoothGrad; default 16, 0: the raw gradient)",
    )
    p.add_argument("--cam", metavar="OUT.png", help="write a Grad-CAM overlay PNG (several images: OUT-<image>.png)")
    p.add_argument(
        "--cam-layer",
        metavar="NAME",
        help="the layer Grad-CAM explains (default: the last stage larger than 1x1; cnnzoo info lists the names)",
    )
    _add_json(p)
    p.set_defaults(func=_cmd_predict)


def _per_image(out: str, images: Sequence[str]) -> dict[str, Any]:
    """The overlay file of each image: ``out`` itself for one image, else ``OUT-<image>.png``, with
    the image's place in the list added where two images share a name (a/x.png, b/x.png)."""
    from collections import Counter
    from pathlib import Path

    dest = Path(out)
    if len(images) == 1:
        return {images[0]: dest}
    stems = Counter(Path(i).stem for i in images)
    return {
        i: dest.with_name(f"{dest.stem}-{Path(i).stem}{f'-{n}' if stems[Path(i).stem] > 1 else ''}{dest.suffix}")
        for n, i in enumerate(images, 1)
    }


def _cmd_predict(args: argparse.Namespace) -> int:
    from .apps.predict import cam_overlay, load_model, predict, saliency_overlay

    model = load_model(args.model, args.pretrained, _model_args(args.model_args, [args.model]))  # None: default tag
    results = predict(model, args.images, topk=args.topk)
    images = [r["image"] for r in results]
    saliency, cam = (_per_image(out, images) if out else {} for out in (args.saliency, args.cam))
    for r in results:
        target = r["top"][0]["index"]
        if saliency:
            r["saliency"] = str(
                saliency_overlay(
                    model, r["image"], saliency[r["image"]], target=target, smoothgrad_samples=args.smoothgrad
                )
            )
        if cam:
            r["cam"] = str(cam_overlay(model, r["image"], cam[r["image"]], target=target, layer=args.cam_layer))
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        print(r["image"])
        for rank, t in enumerate(r["top"], 1):
            print(f"  {rank}. {t['label']:<30} {t['prob']:.4f}")
        for key in ("saliency", "cam"):
            if key in r:
                print(f"  {key}: {r[key]}")
    return 0


def _add_benchmark(sub: Any) -> None:
    p = sub.add_parser(
        "benchmark",
        help="speed, memory, GFLOPs; the accuracy-vs-GFLOPs chart",
        description="Per model: parameters, GFLOPs, inference (and --train) images/s, "
        "median latency and peak memory, after warm-up, with CUDA "
        "synchronisation. --plot draws top-1 vs GFLOPs (Canziani et al. 2017).",
    )
    p.add_argument(
        "--models",
        default="*",
        help="wildcards over model names, or weight tags for the chart, "
        "comma-separated (resnet50.tv_in1k,resnet50.tv2_in1k; default: all)",
    )
    _add_model_args(p)
    _add_device(p, [p for p in PRECISIONS if p != "auto"], "fp32")
    p.add_argument("--batch-size", type=int, help="default 64 on CUDA, 8 on the CPU")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile each model")
    p.add_argument("--train", action="store_true", help="also time a training step")
    _add_input_size(p)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10, help="timed runs; the median is reported")
    p.add_argument("--threads", type=int, help="CPU threads (default: the cores not busy with other work)")
    p.add_argument(
        "--no-timing",
        dest="timing",
        action="store_false",
        help="only parameters, GFLOPs and published top-1 (fast, e.g. for --plot)",
    )
    p.add_argument("--plot", metavar="CHART.png", help="draw top-1 vs GFLOPs, marker area ~ parameters")
    _add_json(p)
    p.set_defaults(func=_cmd_benchmark)


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from .apps import accuracy_chart, benchmark

    columns = [
        ("model", "MODEL", "{}"),
        ("params", "PARAMS(M)", "{:.2f}"),
        ("gflops", "GFLOPs", "{:.3f}"),
        ("top1", "TOP-1", "{:.2f}"),
    ]
    if args.timing:
        columns += [
            ("infer_images_per_s", "IMG/S", "{:.1f}"),
            ("infer_latency_ms", "LATENCY(ms)", "{:.2f}"),
            ("peak_memory_mb", "PEAK(MB)", "{:.0f}"),
        ]
        columns += [("infer_gflops_per_s", "GFLOP/S", "{:.1f}"), ("infer_peak_fraction", "%PEAK", "{:.0%}")]
        if args.train:
            columns += [
                ("train_images_per_s", "TRAIN IMG/S", "{:.1f}"),
                ("train_gflops_per_s", "TRAIN GFLOP/S", "{:.1f}"),
                ("train_peak_fraction", "TRAIN %PEAK", "{:.0%}"),
            ]

    def show(row: dict[str, Any]) -> None:
        cells = []
        for key, title, fmt in columns:
            v = row.get(key)
            text = "-" if v is None else fmt.format(v / 1e6 if key == "params" else v)
            cells.append(text.ljust(24) if key == "model" else text.rjust(len(title)))
        print("  ".join(cells), flush=True)

    if not args.json:
        print("  ".join(t.rjust(len(t)) if k != "model" else t.ljust(24) for k, t, _ in columns))
    # the chart takes weight tags (resnet50.tv_in1k); the timings are of the networks they name
    networks = list(dict.fromkeys(m.strip().partition(".")[0] for m in args.models.split(",") if m.strip()))
    rows = benchmark(
        networks,
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
        train=args.train,
        warmup=args.warmup,
        repeats=args.repeats,
        input_size=args.input_size,
        timing=args.timing,
        threads=args.threads,
        progress=None if args.json else show,
        model_args=_model_args(args.model_args, [args.models]),
    )
    if args.json:
        print(json.dumps(rows, indent=1))
    elif args.timing and rows:
        print(
            f"GFLOP/s: hardware FLOPs (2 x MACs; a training step 3x the forward's); peak "
            f"{rows[0]['peak_gflops_per_s']:.1f} GFLOP/s measured now ({rows[0]['peak_kind']})"
        )
        kind = str(rows[0].get("memory_kind"))
        print(
            {
                "cuda_max_memory_allocated": "peak memory: torch.cuda.max_memory_allocated (weights included)",
                "cpu_peak_rss_growth": "peak memory: growth of the process's resident set (VmHWM) "
                "during the timed runs",
            }.get(kind, "peak memory: not measurable here")
        )
    if args.plot:
        plotted = accuracy_chart(args.plot, args.models)
        print(f"chart of {len(plotted)} models with published top-1: {args.plot}", file=sys.stderr)
    return 0


def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="export (torch.export, ONNX, TorchScript), checked against PyTorch",
        description="Export a model with a dynamic batch dimension and compare the exported "
        "file's outputs with PyTorch's on a fresh batch of another size (ONNX via "
        "onnxruntime; tolerance 1e-4 + 1e-3 x |output|). Written atomically.",
    )
    _add_model(
        p,
        "registered model name (default: a run's checkpoint's, from --pretrained)",
        "load weights (default tag, a tag, a file or a run's runs/X/best.pt, which gives the "
        "model, its arguments, class names and preprocessing); default: random weights",
        nargs="?",
        const=True,
    )
    p.add_argument(
        "--format",
        choices=["export", "onnx", "torchscript", "hub"],
        help="export: a torch.export .pt2 (default); onnx: the dynamo ONNX exporter (needs "
        "cnnzoo[export]); torchscript: legacy; hub: a folder in timm's Hugging Face Hub "
        "layout (config.json, model.safetensors, README.md). Default: from the output's suffix",
    )
    p.add_argument("--output", required=True, metavar="FILE|DIR")
    _add_input_size(p)
    p.add_argument("--opset", type=int, help="ONNX opset (default: torch's)")
    p.add_argument("--num-classes", type=int, help="classifier size (without --pretrained)")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from .apps.export import export
    from .apps.predict import load_model
    from .factory import create_model

    model_args = _model_args(args.model_args, [args.model])
    if args.pretrained is not None and args.num_classes is not None:
        raise CliError("--num-classes is for random weights; the weights given by --pretrained fix the classes")
    if args.pretrained is not None or args.model is None:  # without --model, a run's checkpoint must name it
        model = load_model(args.model, args.pretrained, model_args)  # which asks for one where it does not
    else:
        kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
        model = create_model(args.model, **kwargs, **model_args)
    if args.format == "hub":
        from .weights.hubformat import save_pretrained

        folder = save_pretrained(model, args.output)
        print(f"wrote {folder} (Hub layout: config.json, model.safetensors, README.md)")
        return 0
    r = export(model, args.output, args.format, input_size=args.input_size, opset=args.opset)
    check = (
        f"max |difference| vs PyTorch {r['max_abs_diff']:.2e} ({r['checked_with']}; tolerance "
        f"{r['atol']} + {r['rtol']} x |output|)"
        if r.get("checked_with")
        else r.get("note", "not checked")
    )
    print(f"wrote {r['path']} ({r['format']}, dynamic batch; input {'x'.join(map(str, r['input_size']))}): {check}")
    meta = r["metadata"]
    carried = [
        meta["cnnzoo.model"],
        f"weights {meta['cnnzoo.weights']}" if "cnnzoo.weights" in meta else "random weights",
    ]
    if "cnnzoo.classes" in meta:
        carried.append(f"{len(json.loads(meta['cnnzoo.classes']))} class names")
    if "cnnzoo.preprocessing" in meta:
        carried.append("preprocessing")
    print(f"metadata: {', '.join(carried)}")
    return 0


# ---------------------------------------------------------------- data
def _add_data(sub: Any) -> None:
    p = sub.add_parser("data", help="sample images of the built-in digits or a data set", description="Data utilities.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser)
    dsub.required = True
    q = dsub.add_parser(
        "samples",
        help="write a few images to try cnnzoo predict on",
        description="Write N validation images, taken in turn from each class: the built-in "
        "digits as digit<label>_<k>.png (light on dark, 32x32 as cnnzoo train sees "
        "them), MNIST/CIFAR as <label>_<k>.png, an image folder's files copied into "
        "OUTPUT/<class>/.",
    )
    q.add_argument("--output", required=True, metavar="DIR", help="folder to write into (created)")
    q.add_argument("--n", type=int, default=20, help="how many images (default 20)")
    q.add_argument("--data", default="digits", help="digits (default), mnist:DIR, cifar10:DIR, cifar100:DIR or DIR")
    q.add_argument("--split", default="val", choices=["val", "train"], help="default val (never trained on)")
    p.set_defaults(func=_cmd_data)


def _cmd_data(args: argparse.Namespace) -> int:
    from .apps.samples import write_samples

    paths = write_samples(args.output, args.data, args.n, split=args.split)
    for path in paths:
        print(path)
    return 0


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cnnzoo",
        description=(
            "The landmark convolutional networks: list and inspect them, train them, load their published weights."
        ),
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_list(sub)
    _add_weights(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_info(sub)
    _add_compare(sub)
    _add_predict(sub)
    _add_benchmark(sub)
    _add_export(sub)
    _add_data(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 1 unexpected failure)."""
    for stream in (sys.stdout, sys.stderr):
        # a path that is not valid UTF-8 (a byte-named folder) is printed escaped, not a crash
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import CnnzooError

    try:
        return int(args.func(args) or 0)
    except (CnnzooError, CliError) as e:
        print(f"cnnzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnnzoo {args.command}: interrupted", file=sys.stderr)
        return 130
