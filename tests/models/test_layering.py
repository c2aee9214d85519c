"""The layers point one way: models know nothing of data or weights; importing cnnzoo loads no data code."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnnzoo

MODELS = Path(cnnzoo.__file__).parent / "models"
# the former home of create_model, model_info and split_model_name: an alias that nothing in models imports
ALIAS = "factory.py"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path``, at any level (functions included), and of
    every ``importlib.import_module``/``__import__`` call with a literal name."""
    package = "cnnzoo.models"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from .. import data" names a module too
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in ("__import__", "import_module"))
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _modules() -> list[Path]:
    paths = sorted(MODELS.glob("*.py"))
    assert len(paths) > 10 and MODELS / "resnet.py" in paths  # the walk sees the family files
    return paths


def test_the_import_reader_sees_imports_at_every_level(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text(
        "import importlib\nfrom ..data import stats\n"
        "def f():\n    from ..weights.load import resolve\n"
        "    return importlib.import_module('cnnzoo.data.loaders')\n",
        encoding="utf-8",
    )
    modules = [m for _, m in _imports(source)]
    assert "cnnzoo.data.stats" in modules and "cnnzoo.weights.load" in modules and "cnnzoo.data.loaders" in modules


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_models_import_neither_data_nor_weights(path):
    bad = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[:2] in (["cnnzoo", "data"], ["cnnzoo", "weights"])
    ]
    assert not bad, f"cnnzoo/models/{path.name} imports the layers above it: {bad}"


@pytest.mark.parametrize("path", [p for p in _modules() if p.name != ALIAS], ids=lambda p: p.name)
def test_models_import_only_their_own_layer(path):
    """Inside cnnzoo, a model module imports the models, the errors, the bounds table (which imports only the
    errors) and the shared preprocessing constants."""
    allowed = ("cnnzoo.models", "cnnzoo.errors", "cnnzoo.limits", "cnnzoo.preprocessing")
    bad = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.startswith("cnnzoo") and not module.startswith(allowed)
    ]
    assert not bad, f"cnnzoo/models/{path.name} imports outside its layer: {bad}"


def _loaded_after(code: str, *packages: str) -> list[str]:
    """The modules of ``packages`` (and below) that a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith({packages!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out)


@pytest.mark.slow  # over 5 s on two cores: a real process or a whole run
def test_the_module_probe_sees_what_is_loaded():
    assert "cnnzoo.data.stats" in _loaded_after("import cnnzoo.data", "cnnzoo.data")
    assert "cnnzoo.weights.load" in _loaded_after("import cnnzoo; cnnzoo.create_model", "cnnzoo.weights")


#: one fresh interpreter, in stages, each recording what is loaded by then: what importing cnnzoo, building
#: a model, loading the digits and importing every subpackage may not load. The stages run in this order in
#: one process (each check is of everything loaded so far, so a module loaded early fails every later check
#: too); one process instead of five, each of which paid for importing torch.
_PROBE = r"""
import json, sys
import torch.nn as nn
built, init = [], nn.Module.__init__
def spy(self, *args, **kwargs):
    built.append(type(self).__name__)
    init(self, *args, **kwargs)
nn.Module.__init__ = spy
def loaded(*packages):
    return sorted(m for m in sys.modules if m.split(".")[0] in packages or m.startswith(packages))
stages = {}
import cnnzoo
heavy = loaded("cnnzoo.data", "cnnzoo.weights", "cnnzoo.factory", "torchvision")
stages["import cnnzoo"] = {"built": list(built), "loaded": heavy}
model = cnnzoo.create_model("lenet5")
assert model.pretrained_cfg["architecture"] == "lenet5"
stages["create_model"] = {"built": list(built), "loaded": loaded("cnnzoo.data", "cnnzoo.weights")}
from cnnzoo.data.sources import digits_dataset
assert len(digits_dataset("train")) > 1000
stages["digits"] = {"loaded": loaded("cnnzoo.data", "sklearn", "torchvision")}
import cnnzoo.analysis, cnnzoo.apps, cnnzoo.training, cnnzoo.weights, cnnzoo.data
stages["every subpackage"] = {"loaded": loaded("torchvision", "matplotlib")}
print(json.dumps(stages))
"""


@pytest.fixture(scope="module")
def import_stages() -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_import_cnnzoo_builds_no_model_and_loads_neither_data_nor_weights_nor_torchvision(import_stages):
    # the registry needs none of them: data and weights are loaded by the first create_model, train ...
    assert import_stages["import cnnzoo"] == {"built": [], "loaded": []}


def test_create_model_loads_no_data_module(import_stages):
    stage = import_stages["create_model"]
    # the probe sees what it looks for: the build and the weights code that create_model loads
    assert "LeNet5" in stage["built"] and "cnnzoo.weights.load" in stage["loaded"]
    assert [m for m in stage["loaded"] if m.startswith("cnnzoo.data")] == []


def test_loading_the_digits_imports_neither_sklearn_nor_torchvision(import_stages):
    loaded = import_stages["digits"]["loaded"]
    assert "cnnzoo.data.sources" in loaded  # the probe sees the data code it loaded
    assert [m for m in loaded if m.split(".")[0] in ("sklearn", "torchvision")] == []


def test_importing_every_subpackage_stays_cheap(import_stages):
    assert import_stages["every subpackage"]["loaded"] == []  # torchvision and matplotlib load when used


def test_old_import_path_gives_the_same_functions():
    from cnnzoo import factory
    from cnnzoo.analysis import info
    from cnnzoo.models import build
    from cnnzoo.models import factory as alias

    assert alias.create_model is factory.create_model is cnnzoo.create_model
    assert alias.model_info is info.model_info is cnnzoo.model_info
    assert alias.split_model_name is build.split_model_name
