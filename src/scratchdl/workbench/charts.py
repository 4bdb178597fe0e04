"""Paper-style charts (matplotlib Agg): every figure is written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

from scratchdl.plotstyle import STYLE, epoch_axis, plt, save

__all__ = ["STYLE", "bar_chart", "epoch_axis", "plt", "save"]


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
