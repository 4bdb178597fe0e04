"""Nadaraya-Watson regression: the true function, the training points and each model's fit."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from scratchdl.plots._sheet import STYLE, plt, save


def fit_figure(
    x: Tensor, y: Tensor, preds: dict[str, Tensor], x_train: Tensor, y_train: Tensor, stem: Path
) -> list[Path]:
    """The truth f(x) on the test grid, the fixed- and learned-width predictions, the data."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        ax.plot(x, y, label="truth f(x)", color="black", lw=1)
        ax.plot(x, preds["fixed"], label="fixed width", ls="--")
        ax.plot(x, preds["learned"], label="learned width")
        ax.plot(x_train, y_train, "o", ms=2.5, alpha=0.5, label="training")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend()
        return save(fig, stem)
