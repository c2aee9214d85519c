"""Normalisation statistics and the evaluation crop of the data pipelines.

They are defined in :mod:`cnnzoo.preprocessing`, which the models and the weights share
without importing the data package; this module gives the data code (and its users) the
same names.
"""

from .. import preprocessing
from ..preprocessing import *  # noqa: F403  (the same names, listed once, in preprocessing)

__all__ = preprocessing.__all__
