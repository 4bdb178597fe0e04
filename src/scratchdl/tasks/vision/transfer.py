"""The "transfer" task: ImageNet EfficientNet-Lite0 on a small labelled subset, three ways.

Each of transfer.mode's modes (frozen, finetune, scratch; "all" = the three in that order) is
an engine phase. Every phase starts from `seed_everything(train.seed)` and a freshly built
network, so a mode's result in "all" equals a run of that mode alone. The frozen phase
computes the backbone's features once and trains only the head on them. metrics.jsonl
numbers epochs across the phases; each row carries `phase` (index of the mode in this run)
and `phase_epoch`. The run reports test_accuracy_frozen / _finetune / _scratch (and val_ /
train_ twins); `test_accuracy` is the finetune number in "all", else the one mode's.
Reported numbers are the last epoch's (no best-epoch restore). Each finished mode leaves its
full network in model-<mode>.pt; transfer.png plots every mode's val_accuracy.

A killed run resumes exactly inside the mode it was in (the frozen mode recomputes its
features, bit-identical with the same thread count). Limit: `--resume --epochs N` changes
only modes that have not finished.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.data import TensorLoader, TensorSplit
from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.metrics.classification import make_metrics
from scratchdl.models.efficientnet import backbone_parameters, head
from scratchdl.plots.transfer import plot_modes
from scratchdl.tasks import register_task
from scratchdl.tasks._tables import AUGMENT, IMAGE_DATA
from scratchdl.tasks.vision._transfer_data import (
    MODES,
    TRANSFER_DEFAULTS,
    build_network,
    extract_features,
    load_subsets,
)
from scratchdl.tasks.vision.classify import classifier_step, evaluate_classifier
from scratchdl.train import distributed as dist
from scratchdl.train.augment import build_augment
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.optim import build_optimizer
from scratchdl.train.seeding import seed_everything
from scratchdl.train.task import Task

DATA = {k: v for k, v in IMAGE_DATA.items() if k != "image_size"}  # transfer.image_size


def modes_of(mode: str) -> list[str]:
    """The modes transfer.mode trains, in order."""
    if mode == "all":
        return list(MODES)
    if mode not in MODES:
        raise UserError(f"transfer.mode: expected all, {', '.join(MODES)}; got {mode!r}")
    return [mode]


def headline_mode(modes: list[str]) -> str:
    """The mode whose numbers are the unsuffixed ones (test_accuracy)."""
    return "finetune" if "finetune" in modes else modes[0]


SUMMARY_KEYS = (
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "examples_per_s",
    "trainable_parameters",
)


def build_mode_optimizer(
    mode: str, effnet: nn.Module, ocfg: dict[str, Any], backbone_lr_factor: float
) -> torch.optim.Optimizer:
    """The recipe's optimizer over what `mode` trains.

    frozen: the head only; scratch: every parameter at optimizer.lr; finetune: two parameter
    groups, head first at optimizer.lr, then the backbone at optimizer.lr * backbone_lr_factor.
    """
    if mode == "frozen":
        return build_optimizer(head(effnet), ocfg)
    if mode == "scratch":
        return build_optimizer(effnet, ocfg)
    if mode != "finetune":
        raise UserError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    groups = [
        {"params": list(head(effnet).parameters()), "name": "head"},
        {
            "params": backbone_parameters(effnet),
            "lr": ocfg["lr"] * backbone_lr_factor,
            "name": "backbone",
        },
    ]
    return build_optimizer(groups, ocfg)


@register_task("transfer")
class Transfer(Task):
    defaults = {
        "data": DATA,
        "augment": AUGMENT,
        "transfer": TRANSFER_DEFAULTS,
        "train": {"metrics": ["accuracy"]},
    }
    supports_channels_last = True  # NHWC: depthwise convs run ~1.5x faster on CPU

    model_kinds = ("pretrained",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        transfer_cfg = cfg["transfer"]
        modes = modes_of(transfer_cfg["mode"])
        factor = transfer_cfg["backbone_lr_factor"]
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1:
            raise UserError(
                f"transfer.backbone_lr_factor: expected a number in (0, 1], got {factor!r} "
                "(for a frozen backbone use transfer.mode=frozen)"
            )
        size = transfer_cfg["image_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 32:
            raise UserError(f"transfer.image_size: expected an int >= 32, got {size!r}")
        fe = transfer_cfg["frozen_epochs"]
        if isinstance(fe, bool) or not isinstance(fe, int) or fe < 1:
            raise UserError(f"transfer.frozen_epochs: expected an int >= 1, got {fe!r}")
        if cfg["data"]["normalize"]:
            raise UserError(
                "data.normalize: the transfer task standardises with ImageNet's mean/std; "
                "set data.normalize=false"
            )
        augmenting = any(cfg["augment"][k] != v for k, v in AUGMENT.items())
        if augmenting and "frozen" in modes:
            raise UserError(
                "[augment] cannot apply to transfer.mode=frozen/all (features are computed "
                "once): use mode finetune or scratch, or turn augmentation off"
            )
        match = re.fullmatch(r"(train|val|test)_(accuracy|loss)_(\w+)", cfg["target"]["metric"])
        if match and match.group(3) not in modes:
            raise UserError(
                f"target.metric={cfg['target']['metric']} but transfer.mode={transfer_cfg['mode']} "
                f"does not train {match.group(3)!r}: set target.metric=test_accuracy (the "
                f"mode's own) or test_accuracy_{modes[0]}"
            )

    @classmethod
    def restore_classifier(cls, run_dir: Path, cfg: dict[str, Any]) -> tuple[nn.Module, Any]:
        """The headline mode's network (model-<mode>.pt) on the run's test set (tasks.restore).

        Its input is the run's data space, images in [0, 1]: ImageNetInput resizes and
        standardises inside the model.
        """
        from scratchdl.tasks._restore import TestData, load_weights

        mode = headline_mode(modes_of(cfg["transfer"]["mode"]))
        path = run_dir / f"model-{mode}.pt"
        if not path.is_file():
            raise UserError(
                f"{run_dir} has no {path.name}: its {mode} mode has not finished "
                f"(continue it with `scratchdl run --resume {run_dir}`)"
            )
        state = load_checkpoint(path)
        data = load_subsets(
            cfg["data"]["dataset"],
            cfg["transfer"]["train_per_class"],
            cfg["data"]["val_size"],
            cfg["train"]["seed"],
        )
        options = {k: v for k, v in cfg["model"].items() if k != "name"}
        size = cfg["transfer"]["image_size"]  # "scratch": the architecture, no weights file read
        net, effnet = build_network("scratch", data.info.num_classes, size, options)
        load_weights(effnet, state["model"], path)
        test = TensorSplit(data.test_x, data.test_y)
        return net, TestData(test, data.info)

    # -- building ------------------------------------------------------------------------
    def setup(self) -> None:
        self.check_config(self.cfg)
        self.modes = modes_of(self.cfg["transfer"]["mode"])
        self.data = load_subsets(
            self.cfg["data"]["dataset"],
            self.cfg["transfer"]["train_per_class"],
            self.cfg["data"]["val_size"],
            self.cfg["train"]["seed"],
        )
        self.metric_names = list(self.cfg["train"]["metrics"])
        make_metrics(self.metric_names)  # unknown names fail now

    def phases(self) -> list[tuple[str, int]]:
        frozen, epochs = self.cfg["transfer"]["frozen_epochs"], self.cfg["train"]["epochs"]
        return [(m, frozen if m == "frozen" else int(epochs)) for m in self.modes]

    def setup_phase(self, phase: str) -> None:
        """A fresh network from the run's seed; frozen: the features of every split, once."""
        cfg, data = self.cfg, self.data
        seed_everything(int(cfg["train"]["seed"]))  # same start for every mode
        options = {k: v for k, v in cfg["model"].items() if k != "name"}
        self.mode = phase
        self.net, self.effnet = build_network(
            phase, data.info.num_classes, cfg["transfer"]["image_size"], options
        )
        self.feature_rate: float | None = None
        xs = (data.train_x, data.val_x, data.test_x)
        if phase == "frozen":  # the backbone never changes: features once, only the head trains
            t0 = time.perf_counter()
            self.net.to(self.device)
            eval_bs = cfg["data"]["eval_batch_size"]
            xs = tuple(extract_features(self.net, x, eval_bs, self.device) for x in xs)
            self.feature_rate = sum(len(x) for x in xs) / (time.perf_counter() - t0)
            self.model: nn.Module = nn.Sequential(self.effnet._dropout, head(self.effnet))
            self.augment = None
        else:
            self.model = self.net
            self.augment = build_augment(cfg["augment"], data.info)
        self.inputs = dict(zip(("train", "val", "test"), xs, strict=True))
        self.loader = TensorLoader(
            self.inputs["train"],
            data.train_y,
            cfg["data"]["batch_size"],
            shuffle=True,
            seed=data_order_seed(int(cfg["train"]["seed"])),
        )

    def configure_optimizers(self) -> dict[str, Any]:
        return {
            "main": build_mode_optimizer(
                self.mode,
                self.effnet,
                self.cfg["optimizer"],
                self.cfg["transfer"]["backbone_lr_factor"],
            )
        }

    # -- training ------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def train_batches(self, epoch: int):
        self.loader.set_epoch(epoch)
        return iter(self.loader)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        return classifier_step(self.model, batch, self.augment, self.metric_names)

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, split: str) -> dict[str, float]:
        y = getattr(self.data, f"{split}_y")
        if len(y) == 0:
            return {}
        loader = TensorLoader(self.inputs[split], y, self.cfg["data"]["eval_batch_size"])
        return evaluate_classifier(
            self.module("model"),
            loader,
            self.metric_names,
            self.device,
            bool(self.cfg["train"]["channels_last"]),
        )

    def test(self) -> dict[str, float]:
        """The mode's test numbers and sizes; its full network saved as model-<mode>.pt."""
        out: dict[str, float] = {f"test_{k}": v for k, v in self.evaluate("test").items()}
        if self.feature_rate is not None:
            out["feature_images_per_s"] = self.feature_rate
        out["parameters"] = sum(p.numel() for p in self.effnet.parameters())
        out["trainable_parameters"] = sum(
            p.numel() for p in self.module("model").parameters() if p.requires_grad
        )
        if dist.is_main_process():
            save_checkpoint(
                {
                    "model": self.effnet.state_dict(),
                    "mode": self.mode,
                    "test_accuracy": out.get("test_accuracy"),
                },
                self.run.run_dir / f"model-{self.mode}.pt",
            )
        return out

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Every mode's numbers suffixed with its name; unsuffixed: the headline mode's."""
        final: dict[str, Any] = {}
        for mode in self.modes:
            final.update(
                {f"{k}_{mode}": results[mode][k] for k in SUMMARY_KEYS if k in results[mode]}
            )
        if "feature_images_per_s" in results.get("frozen", {}):
            final["feature_images_per_s"] = results["frozen"]["feature_images_per_s"]
        main = results[headline_mode(self.modes)]
        final.update({k: main[k] for k in SUMMARY_KEYS if k in main})
        final["parameters"] = main["parameters"]
        data = self.data
        final.update(
            train_images=len(data.train_y), val_images=len(data.val_y), test_images=len(data.test_y)
        )
        metrics = self.run.run_dir / "metrics.jsonl"
        if dist.is_main_process() and metrics.is_file():
            plot_modes(
                metrics, self.run.run_dir / "transfer.png", self.cfg.get("recipe", ""), self.modes
            )
        return final
