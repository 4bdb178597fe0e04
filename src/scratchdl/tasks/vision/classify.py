"""The "classify" task: a registered image model trained on an image dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.data import TensorLoader, load_splits
from scratchdl.data.loader import data_order_seed
from scratchdl.metrics.classification import make_metrics
from scratchdl.models._resize import build_for_data
from scratchdl.tasks import register_task
from scratchdl.tasks._tables import AUGMENT, IMAGE_DATA
from scratchdl.tasks.vision._adversarial import ADVERSARIAL, Adversary, check_adversarial
from scratchdl.train.augment import build_augment
from scratchdl.train.checkpoint import load_checkpoint
from scratchdl.train.task import Task


def evaluate_classifier(
    model: nn.Module,
    loader: TensorLoader,
    names: list[str],
    device: torch.device,
    channels_last: bool = False,
) -> dict[str, float]:
    """Loss and the named metrics of `model` over every batch of `loader` (exact sums)."""
    metrics = make_metrics(names)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x).float()
        loss = F.cross_entropy(logits, y)
        for m in metrics:
            m.update(logits, y, loss)
    return {m.name: m.compute() for m in metrics}


def classifier_step(
    model: nn.Module, batch: Any, augment: Any, metric_names: list[str]
) -> dict[str, Any]:
    """One training batch of an image classifier: (augmented) cross-entropy, batch accuracy."""
    x, y = batch
    if augment is not None:
        x = augment(x)
    logits = model(x)
    out = {"loss": F.cross_entropy(logits, y)}
    if "accuracy" in metric_names:
        out["accuracy"] = (logits.detach().argmax(1) == y).float().mean()
    return out


@register_task("classify")
class Classify(Task):
    defaults = {
        "data": IMAGE_DATA,
        "augment": AUGMENT,
        "adversarial": ADVERSARIAL,  # PGD/FGSM adversarial training (tasks/adversarial.py)
        "train": {"metrics": ["accuracy"]},
    }
    supports_channels_last = True
    supports_ddp = True

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        check_adversarial(cfg["adversarial"])

    def setup(self) -> None:
        cfg, data = self.cfg, self.cfg["data"]
        seed = cfg["train"]["seed"]
        self.splits = load_splits(
            data["dataset"], val_size=data["val_size"], seed=seed, normalize=data["normalize"]
        )
        info = self.splits.info
        self.model = build_for_data(
            cfg["model"],
            in_channels=info.in_channels,
            num_classes=info.num_classes,
            native_size=info.image_size,
            image_size=data["image_size"],
        )
        self.loader = TensorLoader(
            self.splits.train.x,
            self.splits.train.y,
            data["batch_size"],
            shuffle=True,
            seed=data_order_seed(seed),
            rank=self.rank,
            world_size=self.world_size,
        )
        self.augment = build_augment(cfg["augment"], info)
        self.adversary = Adversary(self.model, cfg["adversarial"], info.mean, info.std)
        self.metric_names = list(cfg["train"]["metrics"])
        make_metrics(self.metric_names)  # unknown names fail now, not after an epoch

    @classmethod
    def restore_classifier(cls, run_dir: Path, cfg: dict[str, Any]) -> tuple[nn.Module, Any]:
        """The trained model and its test split, rebuilt as the run saw them (tasks.restore)."""
        from scratchdl.tasks._restore import TestData, load_weights

        data = cfg["data"]
        state = load_checkpoint(run_dir / "checkpoint.pt")
        splits = load_splits(
            data["dataset"],
            val_size=data["val_size"],
            seed=cfg["train"]["seed"],
            normalize=data["normalize"],
        )
        info = splits.info
        model = build_for_data(
            cfg["model"],
            in_channels=info.in_channels,
            num_classes=info.num_classes,
            native_size=info.image_size,
            image_size=data.get("image_size", 0),
        )
        load_weights(model, state["modules"]["model"], run_dir / "checkpoint.pt")
        return model, TestData(splits.test, info)

    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def train_batches(self, epoch: int):
        self.loader.set_epoch(epoch)
        return iter(self.loader)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        if not self.adversary.active:
            return classifier_step(self.model, batch, self.augment, self.metric_names)
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        return classifier_step(self.model, (self.adversary(x, y), y), None, self.metric_names)

    def _loader(self, split: str) -> TensorLoader:
        part = getattr(self.splits, split)
        return TensorLoader(part.x, part.y, self.cfg["data"]["eval_batch_size"])

    def evaluate(self, split: str) -> dict[str, float]:
        """Every rank evaluates the whole split: exact, no padded duplicates, cheap."""
        if len(getattr(self.splits, split).y) == 0:
            return {}
        model = self.module("model")
        return evaluate_classifier(
            model,
            self._loader(split),
            self.metric_names,
            self.device,
            bool(self.cfg["train"]["channels_last"]),
        )

    def test(self) -> dict[str, float]:
        """Test metrics; with adversarial training also test_pgd_accuracy (PGD at epsilon)."""
        out = super().test()
        adv = self.cfg["adversarial"]
        if self.adversary.active and adv["eval_steps"] > 0:
            test = self.splits.test
            out["test_pgd_accuracy"] = self.adversary.test_accuracy(test.x, test.y, self.device)
        return out
