"""docs/lightning.md's LightningModule is examples/lightning_train.py's, and it trains: on the built-in
digits (float batches) and on an image folder (uint8 batches normalised by the loader's device_transform),
GoogLeNet's auxiliary losses added with weight 0.3. Skipped where Lightning is not installed."""

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch
from helpers import image_folder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lightning_train.py"


def _module_region() -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    m = re.search(r"# --8<-- \[start:module\]\n(.*?)# --8<-- \[end:module\]\n", text, re.S)
    assert m, "examples/lightning_train.py marks the module the docs show"
    return m.group(1)


def test_the_docs_show_the_example_files_module():
    page = (ROOT / "docs" / "lightning.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", page, re.S | re.M)
    assert _module_region().strip() in [b.strip() for b in blocks]


@pytest.fixture(scope="module")
def example():
    pytest.importorskip("lightning", reason="the example needs PyTorch Lightning: pip install lightning")
    spec = importlib.util.spec_from_file_location("lightning_train", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_QUIET = dict(
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    num_sanity_val_steps=0,
    limit_val_batches=1,
)


@pytest.mark.slow
def test_googlenet_trains_on_the_digits_with_its_auxiliary_loss(example, tmp_path):
    torch.manual_seed(0)
    module, trainer = example.lightning_fit(
        "googlenet", "digits", batch_size=16, limit_train_batches=3, max_epochs=1, default_root_dir=tmp_path, **_QUIET
    )
    assert trainer.global_step == 3
    assert math.isfinite(float(trainer.callback_metrics["train_loss"]))
    assert 0 <= float(trainer.callback_metrics["val_acc"]) <= 100  # the validation ran
    # the step's loss is the main loss plus 0.3 times each auxiliary head's (Szegedy et al. 2014, Sec. 5)
    x, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
    module.model.train()
    torch.manual_seed(1)
    loss = module.loss(x, y)
    torch.manual_seed(1)  # the same dropout masks
    out = module.model(x)
    ce = torch.nn.functional.cross_entropy
    assert len(out.aux_logits) == 2
    torch.testing.assert_close(loss, ce(out.logits, y) + 0.3 * sum(ce(a, y) for a in out.aux_logits))
    assert module.hparams.aux_weight == 0.3


@pytest.mark.slow
def test_a_small_network_learns_the_digits_in_one_short_epoch(example, tmp_path):
    torch.manual_seed(0)
    _, trainer = example.lightning_fit(
        "lenet5", "digits", limit_train_batches=40, max_epochs=1, default_root_dir=tmp_path, **_QUIET
    )
    assert trainer.global_step == 40
    # chance is 10 %: on one validation batch of 32 images, 25 % is about three standard deviations above it
    assert float(trainer.callback_metrics["val_acc"]) > 25


@pytest.mark.slow
def test_uint8_batches_are_normalised_by_the_loaders_device_transform(example, tmp_path):
    from cnnzoo.data import Normalize

    root = image_folder(tmp_path / "imgs", n=8)
    module, trainer = example.lightning_fit(
        "resnet20", str(root), batch_size=4, limit_train_batches=2, max_epochs=1, default_root_dir=tmp_path, **_QUIET
    )
    assert isinstance(module.transforms["train"], Normalize)
    assert trainer.global_step == 2 and math.isfinite(float(trainer.callback_metrics["train_loss"]))
    # what the module hands the model: float, normalised, on the device, from the loader's uint8 batch
    images, labels = next(iter(trainer.train_dataloader))
    assert images.dtype == torch.uint8
    trainer.state.fn, trainer.training = "fit", True
    x, _ = module.transfer_batch_to_device((images, labels), torch.device("cpu"), 0)
    torch.testing.assert_close(x, module.transforms["train"].normalise(images))
