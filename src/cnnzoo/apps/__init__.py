"""The tools around a model that deal with the world outside it: image files, clocks, plots, files.

* :mod:`~cnnzoo.apps.predict` -- classify image files as the weights (or a run) were evaluated;
  saliency and Grad-CAM overlays;
* :mod:`~cnnzoo.apps.samples` -- sample images of the built-in digits or a data set to predict on;
* :mod:`~cnnzoo.apps.compare` -- several models side by side (parameters, GFLOPs, depth, RF, top-1);
* :mod:`~cnnzoo.apps.benchmark` -- images/s, latency and peak memory;
* :mod:`~cnnzoo.apps.chart` -- top-1 against GFLOPs of the published weights; one network's per-layer costs;
* :mod:`~cnnzoo.apps.export` -- ONNX and TorchScript, checked against PyTorch.

torchvision, matplotlib, onnx and onnxruntime are imported only inside the functions that need them.
"""

from .benchmark import benchmark
from .chart import accuracy_chart, layer_chart
from .compare import compare
from .export import export
from .predict import cam_overlay, load_model, predict, preprocess, saliency_overlay
from .samples import write_samples

__all__ = [
    "benchmark",
    "compare",
    "accuracy_chart",
    "layer_chart",
    "export",
    "predict",
    "preprocess",
    "saliency_overlay",
    "cam_overlay",
    "load_model",
    "write_samples",
]
