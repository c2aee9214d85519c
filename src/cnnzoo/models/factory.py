"""The former home of ``create_model``, ``model_info`` and ``split_model_name``, kept as an alias.

``create_model`` joins the networks and their weights, so it lives above both layers, in
:mod:`cnnzoo.factory`; ``model_info`` is :mod:`cnnzoo.analysis.info`'s and ``split_model_name``
:mod:`cnnzoo.models.build`'s. Import them from there or from ``cnnzoo``. This module stays for
one release so that code importing ``cnnzoo.models.factory`` keeps working; nothing in
:mod:`cnnzoo.models` imports it, and it is the only module under ``models/`` that reaches above
the models.
"""

from ..analysis.info import model_info
from ..factory import create_model
from .build import split_model_name

__all__ = ["create_model", "model_info", "split_model_name"]
