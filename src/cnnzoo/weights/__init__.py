"""Pretrained weights: the catalogue, the verified cache, safe reading, key maps and loading.

* :mod:`~cnnzoo.weights.catalogue` -- the published files as data (tag -> URL, SHA-256,
  preprocessing, accuracy, license) and look-ups by tag or model name;
* :mod:`~cnnzoo.weights.cache` -- where files live, verified downloads, offline mode, trust on
  first use, importing a file fetched elsewhere;
* :mod:`~cnnzoo.weights.files` -- reading a file without arbitrary unpickling;
* :mod:`~cnnzoo.weights.keymaps` -- other libraries' state-dict layouts in cnnzoo's names;
* :mod:`~cnnzoo.weights.load` -- resolve what ``create_model(..., pretrained=...)`` asks for,
  adapt the classifier and the first convolution, load;
* :mod:`~cnnzoo.weights.manage` -- what ``cnnzoo weights`` does (list, info, download, import).
"""

from .catalogue import CATALOGUE, WeightsEntry, default_tag, get_entry, list_tags
from .load import (
    IDENTITY_LAYOUTS,
    adapt_input_conv,
    detect_layout,
    label_names,
    load_pretrained,
    read_state_dict,
    resolve,
)
from .manage import download_weights, import_weights, list_weights, weights_info

__all__ = [
    "CATALOGUE",
    "WeightsEntry",
    "IDENTITY_LAYOUTS",
    "default_tag",
    "get_entry",
    "list_tags",
    "adapt_input_conv",
    "detect_layout",
    "label_names",
    "load_pretrained",
    "read_state_dict",
    "resolve",
    "download_weights",
    "import_weights",
    "list_weights",
    "weights_info",
]
