"""The "kernel-regression" task: Nadaraya-Watson attention pooling on the book's 1-D data.

Data (book sec. 10.2): y = 2 sin x + x^0.8 + N(0, noise^2) at n_train points drawn uniformly
from [0, x_max] and sorted; a held-out validation set of n_val noisy points from the same
distribution (seeded by train.seed); test x = arange(0, x_max, test_step) against the
noise-free f. Two estimators are compared on the same data: the non-parametric one with
the fixed width w = model.w, and the same kernel with w learned by gradient descent on the
leave-one-out training loss (each training point predicted from the *other* points: with
itself among the keys, w would grow until every point predicts its own noisy target).

data.steps_per_epoch full-batch steps per epoch. Files: attention_{learned,fixed}.png/pdf
(weights over test x and training points), fit.png/pdf (both fits, the truth and the data).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.tasks import register_task
from scratchdl.train import distributed as dist
from scratchdl.train.task import Task


def true_function(x: Tensor) -> Tensor:
    """The book's f(x) = 2 sin x + x^0.8."""
    return 2 * torch.sin(x) + x ** 0.8


def make_data(cfg: dict[str, Any], seed: int) -> dict[str, Tensor]:
    """Training (sorted), validation and test points; the same seed gives the same data."""
    g = torch.Generator().manual_seed(seed)
    n_train, n_val, x_max = cfg["n_train"], cfg["n_val"], float(cfg["x_max"])
    x_train, _ = torch.sort(torch.rand(n_train, generator=g) * x_max)
    y_train = true_function(x_train) + cfg["noise"] * torch.randn(n_train, generator=g)
    x_val = torch.rand(n_val, generator=g) * x_max
    y_val = true_function(x_val) + cfg["noise"] * torch.randn(n_val, generator=g)
    x_test = torch.arange(0.0, x_max, float(cfg["test_step"]))
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
            "x_test": x_test, "y_test": true_function(x_test)}


@register_task("kernel-regression")
class KernelRegression(Task):
    defaults = {
        "data": {
            "dataset": "synthetic-sine",  # generated from the seed; nothing to fetch
            "n_train": 50,  # training points (the keys and values)
            "n_val": 50,  # held-out noisy points for the validation MSE
            "noise": 0.5,  # std of the Gaussian noise on y
            "x_max": 5.0,  # x ~ uniform(0, x_max)
            "test_step": 0.1,  # test x = arange(0, x_max, test_step), against the true f
            "steps_per_epoch": 20,  # full-batch gradient steps per epoch
        },
    }
    model_kinds = ("kernel-regression",)
    supports_amp = False

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        d = cfg["data"]
        if d["dataset"] != "synthetic-sine":
            raise UserError(f"data.dataset must be 'synthetic-sine' (the book's 1-D data, made "
                            f"from the seed), got {d['dataset']!r}")
        for key in ("n_train", "n_val", "steps_per_epoch"):
            least = 1 if key == "steps_per_epoch" else 2
            if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] < least:
                raise UserError(f"data.{key} must be an int >= {least}, got {d[key]!r}")
        for key in ("x_max", "test_step"):
            if not isinstance(d[key], (int, float)) or not d[key] > 0:
                raise UserError(f"data.{key} must be a positive number, got {d[key]!r}")
        if not isinstance(d["noise"], (int, float)) or d["noise"] < 0:
            raise UserError(f"data.noise must be a number >= 0, got {d['noise']!r}")
        w = cfg["model"].get("w", 1.0)
        if not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise UserError(f"model.w (inverse kernel width) must be a positive number, got "
                            f"{w!r}")

    def setup(self) -> None:
        self.check_config(self.cfg)
        self.data = make_data(self.cfg["data"], int(self.cfg["train"]["seed"]))
        w = float(self.cfg["model"]["w"])
        self.model = build_model(self.cfg["model"]["name"], learn_width=True, w=w)
        self.fixed = build_model(self.cfg["model"]["name"], learn_width=False, w=w)

    def steps_per_epoch(self) -> int:
        return int(self.cfg["data"]["steps_per_epoch"])

    def train_batches(self, epoch: int):
        batch = (self.data["x_train"], self.data["y_train"])
        return (batch for _ in range(self.steps_per_epoch()))

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        leave_one_out = ~torch.eye(len(x), dtype=torch.bool, device=x.device)
        pred = self.model(x, x, y, mask=leave_one_out)
        return {"loss": F.mse_loss(pred, y), "w": self.module("model").w.detach()}

    def _predict(self, model: torch.nn.Module, x: Tensor) -> Tensor:
        d = {k: v.to(self.device) for k, v in self.data.items()}
        return model.to(self.device)(x.to(self.device), d["x_train"], d["y_train"])

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        x, y = self.data[f"x_{split}"].to(self.device), self.data[f"y_{split}"].to(self.device)
        return {"mse": F.mse_loss(self._predict(self.module("model"), x), y).item(),
                "mse_fixed": F.mse_loss(self._predict(self.fixed, x), y).item()}

    @torch.no_grad()
    def test(self) -> dict[str, float]:
        out = {f"test_{k}": v for k, v in self.evaluate("test").items()}
        out["learned_w"] = float(self.module("model").w)
        if dist.is_main_process():
            self._figures()
        return out

    def _figures(self) -> None:
        from scratchdl.plots.attention import attention_heatmap
        from scratchdl.plots.kernel_regression import fit_figure

        d, run_dir = self.data, self.run.run_dir
        x_test = d["x_test"]
        preds = {}
        for tag, model in (("learned", self.module("model")), ("fixed", self.fixed)):
            preds[tag] = self._predict(model, x_test).cpu()
            w = float(model.w)
            attention_heatmap(model.attention_weights, [f"{v:.2f}" for v in d["x_train"]],
                              [f"{v:.1f}" for v in x_test], run_dir / f"attention_{tag}",
                              xlabel="training points (sorted x)", ylabel="test x",
                              title=f"Nadaraya-Watson attention, {tag} w = {w:.3g}")
        fit_figure(x_test, d["y_test"], preds, d["x_train"], d["y_train"], run_dir / "fit")
