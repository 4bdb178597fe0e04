"""The best epoch by a validation metric (train.best) and early stopping (train.patience):
Lightning's ModelCheckpoint(monitor=...) and EarlyStopping in small.

The engine asks the tracker after each epoch whether the epoch is the phase's best so far
(then it keeps those weights) and whether the metric has stalled for `patience` epochs (then
the phase stops). At the phase's end the best weights are put back before the test, so the
test scores the epoch that validation chose, never one chosen by the test itself. The
tracker's state is a function of the epoch rows alone, so a resumed run rebuilds it from
the history it logged.
"""

from __future__ import annotations

import math
from typing import Any

from scratchdl.errors import UserError

MODES = ("auto", "min", "max")
# Metric names whose ending says which way is better (train.best_mode = "auto").
LOWER_IS_BETTER = (
    "loss",
    "perplexity",
    "nll",
    "fd",
    "mse",
    "mae",
    "error",
    "bits_per_dim",
    "bpd",
    "seconds",
)
HIGHER_IS_BETTER = ("accuracy", "bleu", "miou", "map", "map50", "f1", "auc")


def best_mode(metric: str, mode: str = "auto") -> str:
    """The direction of `metric`, "min" or "max": `mode` itself, or read from its name."""
    if mode not in MODES:
        raise UserError(f"train.best_mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    if metric.endswith(LOWER_IS_BETTER):
        return "min"
    if metric.endswith(HIGHER_IS_BETTER):
        return "max"
    raise UserError(
        f"train.best = {metric!r}: cannot tell whether lower or higher is better; "
        'set train.best_mode = "min" or "max"'
    )


def check_best_config(train_cfg: dict[str, Any]) -> None:
    """train.best, train.best_mode and train.patience make sense together (before a run)."""
    metric, patience = train_cfg.get("best", ""), train_cfg.get("patience", 0)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise UserError(f"train.patience must be an integer >= 0 (0 = off), got {patience!r}")
    if not metric:
        if patience:
            raise UserError(
                "train.patience needs a metric to watch: set train.best too, "
                "e.g. --set train.best=val_loss"
            )
        return
    if not isinstance(metric, str) or not metric.startswith("val_"):
        raise UserError(
            f"train.best = {metric!r}: expected a validation metric of the epoch rows, "
            "e.g. val_loss or val_accuracy (the test split never chooses an epoch)"
        )
    best_mode(metric, train_cfg.get("best_mode", "auto"))


class BestTracker:
    """The best epoch of one phase by `metric`, and whether `patience` epochs went by
    without a strictly better value."""

    def __init__(self, metric: str, mode: str = "auto", patience: int = 0) -> None:
        self.metric, self.mode, self.patience = metric, best_mode(metric, mode), patience
        self.best_epoch = 0  # epoch within the phase (1-based); 0: none yet
        self.best_value = math.nan
        self.last_epoch = 0

    def value(self, row: dict[str, Any]) -> float:
        if self.metric not in row:
            shown = ", ".join(sorted(k for k in row if k.startswith("val_"))) or "none"
            raise UserError(
                f"train.best = {self.metric!r} is not a metric of this task's epochs "
                f"(its validation metrics: {shown})"
            )
        return float(row[self.metric])

    def better(self, value: float) -> bool:
        """Strictly better than the best so far (a NaN never is; anything beats no best)."""
        if math.isnan(value):
            return False
        if self.best_epoch == 0:  # a NaN is never recorded, so best_value is a number here
            return True
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def update(self, epoch: int, row: dict[str, Any]) -> bool:
        """Record epoch `epoch` (its row); True if it is the new best."""
        value = self.value(row)
        self.last_epoch = epoch
        if self.better(value):
            self.best_epoch, self.best_value = epoch, value
            return True
        return False

    def should_stop(self) -> bool:
        """patience epochs since the best one (never when patience is 0)."""
        return self.patience > 0 and self.last_epoch - self.best_epoch >= self.patience

    @classmethod
    def from_rows(
        cls, metric: str, mode: str, patience: int, rows: list[dict[str, Any]]
    ) -> BestTracker:
        """A tracker that has seen `rows` (one phase's epoch rows in order): for resume."""
        tracker = cls(metric, mode, patience)
        for i, row in enumerate(rows, 1):
            tracker.update(int(row.get("phase_epoch", i)), row)
        return tracker
