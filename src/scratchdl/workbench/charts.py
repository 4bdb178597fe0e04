"""Paper-style charts (matplotlib Agg): every figure is written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.ticker import MaxNLocator  # noqa: E402

# One look for every figure: serif text at paper sizes, a colour-blind-safe cycle.
STYLE = {
    "font.family": "serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(
        color=["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
    ),
    "savefig.bbox": "tight",
}


def epoch_axis(ax: plt.Axes) -> None:
    """Epochs are whole numbers: no 1.5 tick on an epoch axis."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def fit_xtick_labels(fig: plt.Figure, ax: plt.Axes) -> None:
    """Tick labels that would overlap turn vertical; if they still collide, every n-th stays.

    Measured on the drawn figure, so it holds for any label text, font and panel width.
    """

    def crowded() -> int:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        shown = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in shown]
        boxes.sort(key=lambda b: b.x0)
        return sum(a.x1 + 2 > b.x0 for a, b in zip(boxes[:-1], boxes[1:], strict=True))  # 2 px air

    if not crowded():
        return
    for text in ax.get_xticklabels():
        text.set_rotation(90)
        text.set_horizontalalignment("center")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    step = 1
    while crowded() and step < len(labels):
        step += 1
        ax.set_xticks(ax.get_xticks(), [t if i % step == 0 else "" for i, t in enumerate(labels)])
        for text in ax.get_xticklabels():
            text.set_rotation(90)
            text.set_horizontalalignment("center")


def save(fig: plt.Figure, path_stem: Path) -> list[Path]:
    """Write `<stem>.png` (200 dpi) and `<stem>.pdf`; return both paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=200)
    plt.close(fig)
    return paths


def bar_chart(
    labels: list[str],
    means: list[float],
    stds: list[float],
    *,
    ylabel: str,
    title: str,
    path_stem: Path,
) -> list[Path]:
    """Bars of means with +-1 std error bars, values printed above the bars."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(3.2, 0.9 * len(labels) + 1.5), 2.8))
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        xs = range(len(labels))
        ax.bar(
            xs,
            means,
            yerr=stds,
            capsize=4,
            color=[colors[i % len(colors)] for i in xs],
            edgecolor="black",
            linewidth=0.6,
            error_kw={"elinewidth": 0.8},
        )
        high = max(m + s for m, s in zip(means, stds, strict=True))
        low = min(0.0, min(m - s for m, s in zip(means, stds, strict=True)))
        pad = max((high - low) * 0.08, 1e-3)
        # bars start at 0: a zoomed axis makes a 0.3% difference look like a 3x one
        ax.set_ylim(low - (pad if low < 0 else 0.0), high + 2 * pad)
        ax.axhline(0.0, color="black", linewidth=0.6)
        for x, m, s in zip(xs, means, stds, strict=True):
            ax.text(x, m + s + pad * 0.2, f"{m:.4f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(
            list(xs),
            labels,
            rotation=20 if len(labels) > 3 else 0,
            ha="right" if len(labels) > 3 else "center",
        )
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        return save(fig, path_stem)
