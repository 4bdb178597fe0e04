"""Figures a reviewer would accept: bars from 0, whole-number epoch ticks, one shared style."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from scratchdl.train.plots import plot_curves
from scratchdl.workbench.charts import STYLE, bar_chart


@pytest.fixture
def kept_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """Figures the code under test closes, kept open for inspection."""
    figures: list = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    return figures


def test_bar_chart_value_axis_starts_at_zero(tmp_path: Path, kept_figures: list) -> None:
    bar_chart(
        ["mlp", "lenet"],
        [0.852, 0.861],
        [0.002, 0.003],
        ylabel="test accuracy",
        title="t",
        path_stem=tmp_path / "bars",
    )
    (ax,) = kept_figures[0].axes
    bottom, top = ax.get_ylim()
    assert bottom == 0.0 and 0.864 < top < 1.1
    assert (tmp_path / "bars.png").is_file()


def test_curves_have_integer_epoch_ticks_and_the_shared_style(
    tmp_path: Path, kept_figures: list
) -> None:
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e, "val_accuracy": 0.8 + e / 100}
        for e in (1, 2, 3)
    ]
    plot_curves(history, tmp_path / "curves.png", "tiny")
    fig = kept_figures[0]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert ax.xaxis.label.get_fontfamily() == [STYLE["font.family"]]
    assert (tmp_path / "curves.png").is_file()
