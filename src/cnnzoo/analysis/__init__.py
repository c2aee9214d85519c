"""See inside the networks: per-layer summary, receptive fields, FLOPs, saliency, features.

* :mod:`~cnnzoo.analysis.trace` -- the one instrumented forward pass the others read;
* :mod:`~cnnzoo.analysis.summary` -- the per-layer table (:func:`summary`);
* :mod:`~cnnzoo.analysis.receptive` -- receptive fields on the real graph (:func:`receptive_field`);
* :mod:`~cnnzoo.analysis.depth` -- depth as the papers count it (:func:`network_depth`);
* :mod:`~cnnzoo.analysis.info` -- a registered model's metadata, weight tags and depth (:func:`model_info`);
* :mod:`~cnnzoo.analysis.flops` -- multiply-accumulates (:func:`count_flops`);
* :mod:`~cnnzoo.analysis.saliency` -- gradient saliency and SmoothGrad (:func:`saliency`);
* :mod:`~cnnzoo.analysis.cam` -- Grad-CAM (:func:`grad_cam`);
* :mod:`~cnnzoo.analysis.features` -- feature maps by layer name (:func:`features`, :func:`stage_names`);
* :mod:`~cnnzoo.analysis.explorer` -- the graph beside the table, one offline HTML page (:func:`explore`).
"""

from .cam import grad_cam
from .depth import network_depth
from .explorer import ModelExplorer, explore
from .features import features, stage_names
from .flops import GFLOPS_DEFINITION, FlopCount, count_flops
from .info import model_info
from .receptive import ReceptiveField, ReceptiveFieldMode, receptive_field
from .saliency import saliency
from .summary import LayerInfo, ModelSummary, summary

__all__ = [
    "summary",
    "ModelSummary",
    "LayerInfo",
    "receptive_field",
    "ReceptiveField",
    "ReceptiveFieldMode",
    "count_flops",
    "FlopCount",
    "GFLOPS_DEFINITION",
    "saliency",
    "grad_cam",
    "features",
    "stage_names",
    "network_depth",
    "model_info",
    "explore",
    "ModelExplorer",
]
