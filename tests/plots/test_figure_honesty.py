"""Figures a reviewer would accept: bars from 0, whole-number epoch ticks, one shared style."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from scratchdl.plots.charts import STYLE, bar_chart
from scratchdl.plots.curves import plot_curves


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


# ---- helpers: geometry in display pixels -------------------------------------------------


def _segments_hit_box(points, box, pad: float = 1.0) -> bool:
    """Does the polyline `points` (display px) cross the rectangle `box` (a Bbox)?"""
    x0, y0, x1, y1 = box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad
    for (ax_, ay), (bx, by) in zip(points[:-1], points[1:], strict=True):
        for t in np.linspace(0.0, 1.0, 200):  # dense sampling: exact enough at pixel scale
            px, py = ax_ + t * (bx - ax_), ay + t * (by - ay)
            if x0 <= px <= x1 and y0 <= py <= y1:
                return True
    return False


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


# ---- radar -------------------------------------------------------------------------------

README_RADAR = {  # the README's robustness study: the 0.6 label sat on the noise-blur edge
    "lenet-fmnist": [0.7607, 0.8181, 0.8146, 0.6946, 0.3653],
    "mlp-fmnist": [0.8549, 0.8439, 0.8336, 0.7241, 0.3253],
}
FIVE = ["gaussian_noise", "gaussian_blur", "contrast", "occlusion", "rotation"]


def _radial_labels(ax) -> list:
    """Every visible number label inside the polar axes (tick labels or placed texts)."""
    texts = [*ax.get_yticklabels(), *ax.texts]
    found = []
    for t in texts:
        try:
            float(t.get_text())
        except ValueError:
            continue
        if t.get_visible() and t.get_text():
            found.append(t)
    return found


@pytest.mark.parametrize(
    "series",
    [
        README_RADAR,
        {"a": [0.86, 0.84, 0.85], "b": [0.88, 0.87, 0.83]},
        {"a": [0.2, 0.9, 0.5, 0.6], "b": [0.4, 0.4, 0.95, 0.1]},
    ],
)
def test_radar_starts_at_zero_and_keeps_labels_off_polygons(series: dict) -> None:
    from scratchdl.plots.radar import radar_figure

    k = len(next(iter(series.values())))
    fig = radar_figure(FIVE[:k], series, title="t", clean={"a": 0.9})
    ax = fig.axes[0]
    assert ax.name == "polar" and ax.get_ylim()[0] == 0.0
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = _radial_labels(ax)
    assert len(labels) >= 3, [t.get_text() for t in labels]
    assert "0.0" in [t.get_text() for t in labels] or ax.get_ylim()[0] == 0.0
    polygons = [line for line in ax.get_lines() if line.get_label() in series]
    assert len(polygons) == len(series)
    for text in labels:
        box = text.get_window_extent(renderer)
        for line in polygons:
            pts = line.get_transform().transform(line.get_xydata())
            assert not _segments_hit_box(pts, box), (text.get_text(), line.get_label())


def test_radar_with_two_axes_is_a_bar_chart(tmp_path: Path, kept_figures: list) -> None:
    from scratchdl.plots.radar import radar_chart

    paths = radar_chart(
        FIVE[:2],
        {"a": [0.6, 0.8], "b": [0.7, 0.75]},
        clean={"a": 0.9, "b": 0.85},
        title="t",
        path_stem=tmp_path / "radar",
    )
    assert [p.name for p in paths] == ["radar.png", "radar.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    (ax,) = [a for a in kept_figures[0].axes if a.get_visible()]
    assert ax.name != "polar"
    heights = sorted(round(p.get_height(), 4) for p in ax.patches)
    assert heights == [0.6, 0.7, 0.75, 0.8, 0.85, 0.9]  # clean + two corruptions, two runs
    assert ax.get_ylim()[0] == 0.0


# ---- ablate --------------------------------------------------------------------------------


def _ablate_rows(means: list[float]) -> list[dict]:
    rows = []
    for i, m in enumerate(means):
        rows.append(
            {
                "variant": "base (model.dropout=0.2)" if i == 0 else f"model.dropout=0.{i}",
                "settings": {"model.dropout": "x"},  # not numeric: the bars chart
                "is_base": i == 0,
                "mean": m,
                "std": 0.002,
                "n": 2,
                "values": [m - 0.001, m + 0.001],
                "change": m - means[0],
            }
        )
    return rows


@pytest.mark.parametrize("metric", ["test_accuracy", "val_loss"])
def test_ablate_bars_plot_one_kind_of_quantity_per_axis(
    metric: str, tmp_path: Path, kept_figures: list
) -> None:
    from scratchdl.workbench.ablate import ablate_chart

    rows = _ablate_rows([0.8868, 0.8791, 0.8906, 0.8712])
    _, kind = ablate_chart(rows, ["model.dropout"], metric, 2, "mlp", tmp_path / "ablate")
    assert kind == "bars"
    axes = [a for a in kept_figures[0].axes if a.get_visible()]
    value_axes = [a for a in axes if a.get_xlabel().startswith(metric.replace("_", " "))]
    change_axes = [a for a in axes if "change" in a.get_xlabel()]
    assert len(value_axes) == 1 and len(change_axes) == 1 and len(axes) == 2
    value_ax, change_ax = value_axes[0], change_axes[0]
    assert "change" not in value_ax.get_xlabel()
    # values on the value axis (bars from 0), differences on the change axis (through 0)
    assert value_ax.get_xlim()[0] == 0.0
    assert sorted(round(p.get_width(), 4) for p in value_ax.patches) == sorted(
        r["mean"] for r in rows
    )
    value_texts = [t.get_text() for t in value_ax.texts]
    assert value_texts == [f"{r['mean']:.4f}" for r in rows]
    change_texts = [t.get_text() for t in change_ax.texts]
    assert all(t[0] in "+-" for t in change_texts), change_texts
    assert change_texts == [f"{r['change']:+.4f}" for r in rows[1:]]
    low, high = change_ax.get_xlim()
    assert low < min(r["change"] for r in rows) and high > max(r["change"] for r in rows)
    assert low <= 0.0 <= high


# ---- confusion matrix ----------------------------------------------------------------------


def _luminance(rgb) -> float:
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)))
    return (lb + 0.05) / (la + 0.05)


def _confusion(k: int, tmp_path: Path, kept_figures: list):
    from matplotlib.colors import to_rgb

    from scratchdl.workbench.figures import confusion_plot

    counts = torch.full((k, k), 3) + torch.diag(torch.arange(k) * 40 + 10)
    counts[0, 1] = 100  # one mid-dark off-diagonal cell
    confusion_plot(counts, [f"class {i}" for i in range(k)], "t", tmp_path / f"cm{k}")
    fig = kept_figures[-1]
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    image = ax.images[0]
    cell_w = abs(ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0])
    cell_h = abs(ax.transData.transform((0, 1))[1] - ax.transData.transform((0, 0))[1])
    for t in ax.texts:
        box = t.get_window_extent(renderer)
        assert box.width < 0.9 * cell_w and box.height < 0.9 * cell_h, (k, t.get_text())
        j, i = (round(v) for v in t.get_position())
        background = image.cmap(image.norm(image.get_array()[i, j]))
        assert _contrast(to_rgb(t.get_color()), background) >= 4.5, (k, t.get_text())
    assert ax.texts
    return fig, ax.texts[0].get_fontsize()


def test_confusion_numbers_are_readable_at_any_class_count(
    tmp_path: Path, kept_figures: list
) -> None:
    small, small_font = _confusion(3, tmp_path, kept_figures)
    ten, ten_font = _confusion(10, tmp_path, kept_figures)
    big, big_font = _confusion(26, tmp_path, kept_figures)
    assert small_font >= ten_font >= big_font >= 6
    assert small_font > big_font
    assert big.get_size_inches()[0] > ten.get_size_inches()[0] >= small.get_size_inches()[0]
    assert {t.get_color() for t in big.axes[0].texts} >= {"white", "black"}  # dark diag: white
    assert (tmp_path / "cm26.png").stat().st_size > 1000


# ---- search ----------------------------------------------------------------------------------


def _search_rows() -> tuple[list[dict], list]:
    from scratchdl.workbench.search import parse_space

    hidden = ["[256,128,64]", "[512,256,128]", "[1024,512]", "[128,64,32]", "[64,32,16]", "[32]"]
    dims = [
        parse_space("optimizer.lr=loguniform(1e-5,1e-1)"),
        parse_space("model.hidden=" + ",".join(hidden)),
        parse_space("train.batch_size=int(16,4096)"),
    ]
    rows = []
    for t in range(12):
        lr, h, bs = 10 ** (-5 + 4 * t / 11), hidden[t % 6], 16 + 370 * t
        rows.append(
            {
                "trial": t,
                "rung": 0,
                "epochs": 1,
                "params": {
                    "optimizer.lr": f"{lr:.4g}",
                    "model.hidden": h,
                    "train.batch_size": str(bs),
                },
                "settings": {
                    "optimizer.lr": lr,
                    "model.hidden": [int(v) for v in h.strip("[]").split(",")],
                    "train.batch_size": bs,
                },
                "value": 0.7 + 0.02 * t,
                "run_id": str(t),
                "kept": t == 11,  # the best is at the top right corner of every panel
            }
        )
    return rows, dims


def test_search_ticks_do_not_overlap_and_the_star_is_whole(
    tmp_path: Path, kept_figures: list
) -> None:
    from scratchdl.workbench.search import search_chart

    rows, dims = _search_rows()
    search_chart(rows, dims, "val_accuracy", "random", "mlp", tmp_path / "search")
    fig = kept_figures[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [a for a in fig.axes if a.get_visible()]
    assert len(panels) == 3
    assert panels[0].get_xscale() == "log"  # loguniform
    for ax in panels:
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        assert len(boxes) >= 2
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not _overlap(a, b), (ax.get_xlabel(), [t.get_text() for t in labels])
        star = next(c for c in ax.collections if c.get_label() == "selected")
        assert not star.get_clip_on()
        (cx, cy), inside = ax.transData.transform(star.get_offsets()[0]), ax.get_window_extent()
        radius = np.sqrt(star.get_sizes()[0]) / 2 * fig.dpi / 72
        assert inside.x0 + radius <= cx <= inside.x1 - radius, ax.get_xlabel()
        assert inside.y0 + radius <= cy <= inside.y1 - radius, ax.get_xlabel()
