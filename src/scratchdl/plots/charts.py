"""Paper-style charts (matplotlib Agg): every figure is written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

from scratchdl.plots._sheet import STYLE, epoch_axis, plt, save

__all__ = ["STYLE", "bar_chart", "epoch_axis", "fit_xtick_labels", "plt", "save"]


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
