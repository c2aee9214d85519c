"""Train a cnnzoo model with PyTorch Lightning, on cnnzoo's loaders (docs/lightning.md).

    python examples/lightning_train.py --model googlenet --data digits --max-steps 40
    python examples/lightning_train.py --model resnet20 --data cifar10:~/data/cifar10 --max-epochs 30

Needs ``pip install lightning``. The LightningModule below is the one docs/lightning.md shows.
"""

# --8<-- [start:module]
import lightning as L
import torch

import cnnzoo
from cnnzoo.data import build_data, device_transform


class ZooClassifier(L.LightningModule):
    """A cnnzoo classifier as a LightningModule: cnnzoo's loss (GoogLeNet's auxiliary heads included)
    and cnnzoo's loaders, whose batches become model inputs on the device by their ``device_transform``."""

    def __init__(self, model_name, bundle, lr=0.05, aux_weight=0.3):
        super().__init__()
        self.save_hyperparameters(ignore=["bundle"])
        self.model = cnnzoo.create_model(model_name, num_classes=bundle.num_classes, in_chans=bundle.in_chans)
        # uint8 crops (files) are normalised on the device; the built-in digits are float already
        self.transforms = {"train": device_transform(bundle.train_loader), "val": device_transform(bundle.val_loader)}

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # the loader's own copy: uint8 to the device, then (x / 255 - mean) / std there
        images, labels = batch
        split = "train" if self.trainer.training else "val"
        return self.transforms[split](images, device), labels.to(device, non_blocking=True)

    def loss(self, images, labels):
        # in train mode GoogLeNet also gives its auxiliary logits (Szegedy et al. 2014, Sec. 5);
        # googlenet_loss adds them with weight 0.3, and is plain cross-entropy for other models
        return cnnzoo.googlenet_loss(self.model(images), labels, aux_weight=self.hparams.aux_weight)

    def training_step(self, batch, batch_idx):
        loss = self.loss(*batch)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        images, labels = batch
        logits = self.model(images)  # eval mode: the main logits only
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, labels))
        self.log("val_acc", (logits.argmax(1) == labels).float().mean() * 100)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9, weight_decay=5e-4)
        steps = self.trainer.estimated_stepping_batches
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.hparams.lr, total_steps=steps)
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


def lightning_fit(model_name="googlenet", data="digits", *, image_size=32, in_chans=1, batch_size=32, **trainer_args):
    """Build cnnzoo's loaders for ``data`` (a ``--data`` spec) and fit ``model_name`` with a Lightning Trainer."""
    bundle = build_data(
        data, image_size=image_size, in_chans=in_chans, batch_size=batch_size, workers=0, device=torch.device("cpu")
    )
    module = ZooClassifier(model_name, bundle)
    # cnnzoo's loaders shard and order the data themselves (EpochSampler): Lightning keeps them as they are
    trainer = L.Trainer(use_distributed_sampler=False, **trainer_args)
    trainer.fit(module, bundle.train_loader, bundle.val_loader)
    return module, trainer


# --8<-- [end:module]


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="googlenet")
    p.add_argument("--data", default="digits", help="a cnnzoo --data spec (digits, cifar10:DIR, an image folder)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--in-chans", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--max-epochs", type=int, default=1)
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--output", default="runs/lightning")
    args = p.parse_args()
    module, trainer = lightning_fit(
        args.model,
        args.data,
        image_size=args.image_size,
        in_chans=args.in_chans,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        max_epochs=args.max_epochs,
        accelerator=args.accelerator,
        default_root_dir=args.output,
    )
    metrics = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items()}
    print(f"{args.model} on {args.data}: {trainer.global_step} steps, {metrics}")


if __name__ == "__main__":
    main()
