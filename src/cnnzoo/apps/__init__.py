"""The tools around a model that deal with the world outside it: image files, clocks, plots, files.

* :mod:`~cnnzoo.apps.predict` -- classify image files as the weights were evaluated; saliency overlays;
* :mod:`~cnnzoo.apps.benchmark` -- images/s, latency and peak memory;
* :mod:`~cnnzoo.apps.chart` -- top-1 against GFLOPs of the published weights;
* :mod:`~cnnzoo.apps.export` -- ONNX and TorchScript, checked against PyTorch.

torchvision, matplotlib, onnx and onnxruntime are imported only inside the functions that need them.
"""

from .benchmark import benchmark
from .chart import accuracy_chart
from .export import export
from .predict import predict, preprocess, saliency_overlay

__all__ = ["benchmark", "accuracy_chart", "export", "predict", "preprocess", "saliency_overlay"]
