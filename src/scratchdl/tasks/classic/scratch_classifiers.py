"""Tasks of the from-scratch classifiers: "knn", "linear-scratch" and "net-scratch".

They train with the hand-written code only (no autograd, no torch.optim unless
optimizer.impl = "torch"), on the engine's manual-optimization path: the engine still runs
the loop, steps the schedule per step, logs, checkpoints and resumes exactly.

- knn: one single-step epoch: k chosen by k-fold cross-validation on the training set
  (val_accuracy is the chosen k's mean fold accuracy), then the test set classified.
- linear-scratch: a linear SVM or softmax classifier, minibatch updates W -= lr * dW through
  the optimizer of [optimizer] (plain SGD in the recipes) with the [schedule] per step.
- net-scratch: a hand-written net (scratchdl.models.scratch) with a hand-written optimizer.

The hand-written models' tensors are checkpointed through models.scratch.ScratchModule
(module "model"): params, batch-norm running statistics and the net's dropout generator.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from scratchdl.data import TensorLoader, load_splits
from scratchdl.data.loader import data_order_seed
from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models.scratch._module import ScratchModule
from scratchdl.scratch import knn as knn_lib
from scratchdl.scratch import optim as scratch_optim
from scratchdl.scratch.linear import add_bias_column
from scratchdl.tasks import register_task
from scratchdl.tasks._tables import IMAGE_DATA
from scratchdl.train.optim import TORCH_OPTIMIZERS, hyperparameters
from scratchdl.train.task import Task

# the image data table without image_size: these models take the data's own size
FLAT_DATA = {k: v for k, v in IMAGE_DATA.items() if k != "image_size"}
TIES = ("nearest", "smallest")


def dict_optimizer(params: Mapping[str, Tensor], ocfg: dict[str, Any]) -> Any:
    """The [optimizer] over a dict of hand-written tensors: a DictOptimizer whose step takes
    a dict of gradients (scratchdl.scratch.optim; torch.optim's class with impl = "torch")."""
    hp = {**hyperparameters(ocfg), "weight_decay": ocfg["weight_decay"]}
    if ocfg["impl"] == "scratch":
        return scratch_optim.scratch_optimizer(ocfg["name"], params, **hp)
    return scratch_optim.DictOptimizer(TORCH_OPTIMIZERS[ocfg["name"]], params, **hp)


def _check_optimizer(cfg: dict[str, Any], task: str) -> None:
    if cfg["optimizer"]["no_decay_bias_norm"]:
        raise UserError(
            f"{task} has no parameter groups: optimizer.no_decay_bias_norm must be false "
            "(use the model's reg for an L2 penalty on weights only)"
        )


class _FlatClassifier(Task):
    """Shared by linear-scratch and net-scratch: data, shuffled batches, accuracy, summary."""

    defaults = {"data": FLAT_DATA, "optimizer": {"impl": "scratch"}}
    manual_optimization = True
    supports_amp = False

    def _load_data(self) -> None:
        data, seed = self.cfg["data"], self.cfg["train"]["seed"]
        self.splits = load_splits(
            data["dataset"], val_size=data["val_size"], seed=seed, normalize=data["normalize"]
        )
        self.loader = TensorLoader(
            self.splits.train.x,
            self.splits.train.y,
            data["batch_size"],
            shuffle=True,
            seed=data_order_seed(seed),
        )

    def scores(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def train_batches(self, epoch: int):
        self.loader.set_epoch(epoch)
        return iter(self.loader)

    def evaluate(self, split: str) -> dict[str, float]:
        part = getattr(self.splits, split)
        if len(part.y) == 0:
            return {}
        bs, correct = self.cfg["data"]["eval_batch_size"], 0
        for i in range(0, len(part.y), bs):
            x, y = part.x[i : i + bs].to(self.device), part.y[i : i + bs].to(self.device)
            correct += int((self.scores(x).argmax(1) == y).sum())
        return {"accuracy": correct / len(part.y)}

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        final = super().summary(results)
        final["parameters"] = self.module("model").num_params()
        return final


@register_task("linear-scratch")
class LinearScratch(_FlatClassifier):
    """A linear SVM or softmax classifier with hand-written gradients."""

    defaults = {
        **_FlatClassifier.defaults,
        "linear": {"loss": "softmax", "reg": 1e-4, "l1_ratio": 0.0, "l2_half": False},
    }
    model_kinds = ("scratch-linear",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        _check_optimizer(cfg, "linear-scratch")
        build_model(cfg["model"]["name"], loss=cfg["linear"]["loss"])  # a bad loss fails now

    def setup(self) -> None:
        self.check_config(self.cfg)
        self._load_data()
        info = self.splits.info
        self.clf = build_model(self.cfg["model"]["name"], loss=self.cfg["linear"]["loss"])
        features = info.in_channels * math.prod(info.image_size) + 1  # + the bias row
        g = torch.Generator().manual_seed(int(self.cfg["train"]["seed"]))
        w = 0.001 * torch.randn(features, info.num_classes, generator=g)
        self.clf.W = w.to(self.device)
        self.model = ScratchModule({"W": self.clf.W})

    def configure_optimizers(self) -> dict[str, Any]:
        return {"main": dict_optimizer({"W": self.clf.W}, self.cfg["optimizer"])}

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        X = add_bias_column(x.flatten(1))
        lcfg = self.cfg["linear"]
        loss, dW = self.clf.loss(
            self.clf.W, X, y, lcfg["reg"], lcfg["l1_ratio"], l2_half=lcfg["l2_half"]
        )
        accuracy = (X @ self.clf.W).argmax(1).eq(y).float().mean()  # before this step
        self.engine.optimizers["main"].step({"W": dW})
        return {"loss": loss, "accuracy": accuracy}

    def scores(self, x: Tensor) -> Tensor:
        return self.clf.scores(x)


@register_task("net-scratch")
class NetScratch(_FlatClassifier):
    """A hand-written net (forward and backward by hand) and a hand-written optimizer."""

    model_kinds = ("scratch-net",)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        _check_optimizer(cfg, "net-scratch")

    def setup(self) -> None:
        self.check_config(self.cfg)
        self._load_data()
        info = self.splits.info
        options = {k: v for k, v in self.cfg["model"].items() if k != "name"}
        self.net = build_model(
            self.cfg["model"]["name"],
            input_shape=(info.in_channels, *info.image_size),
            num_classes=info.num_classes,
            seed=int(self.cfg["train"]["seed"]),
            device=str(self.device),
            **options,
        )
        self.model = ScratchModule.of_net(self.net)

    def configure_optimizers(self) -> dict[str, Any]:
        return {"main": dict_optimizer(self.net.params, self.cfg["optimizer"])}

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        loss, grads = self.net.loss(x, y)
        self.engine.optimizers["main"].step(grads)
        return {"loss": loss}

    def scores(self, x: Tensor) -> Tensor:
        return self.net.loss(x)


def _with_tie(fn: Callable[..., Any], tie: str) -> Callable[..., Any]:
    """`fn` with tie=... bound if it takes one; "nearest" (the old rule) works either way."""
    if "tie" in inspect.signature(fn).parameters:
        return lambda *a, **kw: fn(*a, tie=tie, **kw)
    if tie != "nearest":
        raise UserError(
            f"knn.tie={tie!r}: this scratchdl's kNN breaks vote ties by the nearest neighbour "
            'only; set knn.tie = "nearest"'
        )
    return fn


@register_task("knn")
class KNN(Task):
    """k chosen by k-fold CV on the whole training set, then the test set classified."""

    defaults = {
        "data": {"dataset": "fashion-mnist"},
        "knn": {
            "ks": [1, 3, 5, 7, 9, 11],  # candidates for k, chosen by cross-validation
            "metric": "l2",  # l1 or l2
            "folds": 5,
            "tie": "nearest",  # vote ties: nearest (class of the nearest tied neighbour) or
            # smallest (the smallest tied label, the course's rule)
            "max_mib": 512,  # memory budget of one distance block
        },
    }
    model_kinds = ("scratch-knn",)
    module_names = ()
    manual_optimization = True
    supports_amp = False

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        if cfg["train"]["epochs"] != 1:
            raise UserError(
                f"knn trains in one pass: train.epochs must be 1, got {cfg['train']['epochs']}"
            )
        tie = cfg["knn"]["tie"]
        if tie not in TIES:
            raise UserError(f"knn.tie must be one of {', '.join(TIES)}, got {tie!r}")
        for fn in (knn_lib.cross_validate_k, knn_lib.knn_predict):
            _with_tie(fn, tie)

    def setup(self) -> None:
        self.check_config(self.cfg)
        cfg = self.cfg
        splits = load_splits(
            cfg["data"]["dataset"], val_size=0, seed=cfg["train"]["seed"], normalize=False
        )
        self.x_train = splits.train.x.flatten(1).to(self.device)
        self.y_train = splits.train.y.to(self.device)
        self.x_test = splits.test.x.flatten(1).to(self.device)
        self.y_test = splits.test.y.to(self.device)
        self.num_classes = splits.info.num_classes
        self.best_k: int | None = None
        self.fold_acc: dict[int, list[float]] = {}

    def configure_optimizers(self) -> dict[str, Any]:
        return {}

    def steps_per_epoch(self) -> int:
        return 1

    def train_batches(self, epoch: int):
        return iter([(self.x_train, self.y_train)])

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        """The whole "training": cross-validate every candidate k."""
        x, y = batch
        k = self.cfg["knn"]
        cross_validate = _with_tie(knn_lib.cross_validate_k, k["tie"])
        self.best_k, self.fold_acc = cross_validate(
            x, y, k["ks"], k["folds"], k["metric"], self.cfg["train"]["seed"], self._budget()
        )
        return {}

    def _budget(self) -> int:
        return int(self.cfg["knn"]["max_mib"]) * 2**20

    def _cv(self) -> dict[str, float]:
        return {f"cv_accuracy_k{k}": sum(a) / len(a) for k, a in self.fold_acc.items()}

    def evaluate(self, split: str) -> dict[str, float]:
        if split != "val" or self.best_k is None:
            return {}
        return {"accuracy": self._cv()[f"cv_accuracy_k{self.best_k}"]}

    def test(self) -> dict[str, float]:
        k = self.cfg["knn"]
        predict = _with_tie(knn_lib.knn_predict, k["tie"])
        pred = predict(
            self.x_test,
            self.x_train,
            self.y_train,
            self.best_k,
            k["metric"],
            self._budget(),
            num_classes=self.num_classes,
        )
        accuracy = (pred == self.y_test).double().mean().item()
        return {"best_k": self.best_k, **self._cv(), "test_accuracy": accuracy}

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {**super().summary(results), "parameters": 0}

    def state_dict(self) -> dict[str, Any]:
        return {"best_k": self.best_k, "fold_acc": self.fold_acc}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_k, self.fold_acc = state["best_k"], dict(state["fold_acc"])
