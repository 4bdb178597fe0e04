"""Robustness charts: a radar (one axis per corruption) and accuracy-vs-severity lines."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from scratchdl.workbench.charts import STYLE, save


def pretty(name: str) -> str:
    """'gaussian_noise' -> 'Gaussian noise' (axis and column labels)."""
    text = name.replace("_", " ")
    return text[0].upper() + text[1:] if text else text


def _radial_limits(values: list[float]) -> tuple[float, float]:
    """Zoom on the data in steps of 0.1 (as papers do), always inside [0, 1]."""
    low = max(0.0, math.floor(min(values) * 10) / 10 - 0.1)
    high = min(1.0, math.ceil(max(values) * 10) / 10)
    return low, max(high, low + 0.1)


def radar_figure(
    axes_names: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    clean: dict[str, float] | None = None,
) -> plt.Figure:
    """A polar figure with one spoke per name in `axes_names` and one closed polygon per series.

    series: label -> one value per axis (same order). clean: label -> a value drawn as a dashed
    circle of the series' colour (the accuracy without corruption). Caller saves or closes it.
    """
    with plt.rc_context(STYLE):
        k = len(axes_names)
        angles = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
        fig, ax = plt.subplots(figsize=(4.2, 4.0), subplot_kw={"projection": "polar"})
        ax.set_theta_offset(np.pi / 2)  # first axis at the top, then clockwise
        ax.set_theta_direction(-1)
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        ring = np.linspace(0.0, 2 * np.pi, 200)
        everything = [v for vals in series.values() for v in vals] + list((clean or {}).values())
        for i, (label, values) in enumerate(series.items()):
            color = colors[i % len(colors)]
            closed_a = np.append(angles, angles[0])
            closed_v = np.append(values, values[0])
            ax.plot(
                closed_a,
                closed_v,
                color=color,
                linewidth=1.4,
                marker="o",
                markersize=3.5,
                label=label,
            )
            ax.fill(closed_a, closed_v, color=color, alpha=0.12)
            if clean and label in clean:
                ax.plot(
                    ring,
                    np.full_like(ring, clean[label]),
                    color=color,
                    linewidth=0.8,
                    linestyle="--",
                )
        low, high = _radial_limits(everything)
        ax.set_ylim(low, high)
        step = 0.1 if high - low <= 0.5 else 0.2
        ticks = np.round(np.arange(math.ceil(low / step - 1e-9) * step, high + 1e-9, step), 2)
        ax.set_yticks(ticks, [f"{t:.1f}" for t in ticks], fontsize=7)
        ax.set_rlabel_position(180 / max(k, 1))  # radial labels between the first two spokes
        ax.set_xticks(angles, [pretty(n) for n in axes_names])
        ax.tick_params(axis="x", pad=4)
        for text, angle in zip(ax.get_xticklabels(), angles, strict=True):
            side = np.sin(angle)  # angle runs clockwise from the top: > 0 is the right half
            align = "left" if side > 0.1 else "right" if side < -0.1 else "center"
            text.set_horizontalalignment(align)
        ax.grid(alpha=0.35)
        ax.set_title(title, pad=18)
        note = "radius: test accuracy" + ("; dashed: clean accuracy" if clean else "")
        fig.text(0.5, 0.005, note, ha="center", fontsize=7, style="italic")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.08), frameon=False)
        return fig


def radar_chart(
    axes_names: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    path_stem: Path,
    clean: dict[str, float] | None = None,
) -> list[Path]:
    """radar_figure(...) written as `<stem>.png` and `<stem>.pdf`."""
    fig = radar_figure(axes_names, series, title=title, clean=clean)
    with plt.rc_context(STYLE):  # savefig.bbox = tight is read at save time
        return save(fig, path_stem)


def severity_figure(
    curves: dict[str, dict[str, list[float]]],
    severities: list[int],
    *,
    title: str,
) -> plt.Figure:
    """One subplot per corruption, one line per run: accuracy at severity 0 (clean) and above.

    curves: corruption -> run label -> accuracies at `severities` (which starts with 0).
    """
    with plt.rc_context(STYLE):
        names = list(curves)
        cols = min(len(names), 3)
        rows = math.ceil(len(names) / cols)
        fig, axs = plt.subplots(
            rows, cols, figsize=(2.4 * cols + 0.4, 2.1 * rows + 0.5), sharey=True, squeeze=False
        )
        everything = [v for per_run in curves.values() for vs in per_run.values() for v in vs]
        low = max(0.0, math.floor(min(everything) * 10) / 10 - 0.05)
        high = min(1.02, math.ceil(max(everything) * 10) / 10 + 0.02)
        for i, name in enumerate(names):
            ax = axs[i // cols][i % cols]
            for label, accs in curves[name].items():
                ax.plot(severities, accs, marker="o", markersize=3.5, linewidth=1.3, label=label)
            ax.set_title(pretty(name))
            ax.set_xticks(severities)
            ax.set_ylim(low, high)
            ax.grid(alpha=0.3)
            if i // cols == rows - 1 or i + cols >= len(names):
                ax.set_xlabel("severity (0 = clean)")
            if i % cols == 0:
                ax.set_ylabel("test accuracy")
        for j in range(len(names), rows * cols):  # hide unused cells of the grid
            axs[j // cols][j % cols].set_visible(False)
        handles, labels = axs[0][0].get_legend_handles_labels()
        fig.suptitle(title)
        if len(names) < rows * cols:  # an empty cell of the grid holds the legend
            spare = axs[-1][-1]
            fig.tight_layout()
            fig.legend(
                handles,
                labels,
                loc="center",
                bbox_to_anchor=spare.get_position().bounds,
                frameon=False,
            )
        else:
            fig.tight_layout(rect=(0, 0.07, 1, 1))
            fig.legend(
                handles,
                labels,
                loc="lower center",
                ncol=min(len(labels), 4),
                frameon=False,
                bbox_to_anchor=(0.5, 0.0),
            )
        return fig


def severity_chart(
    curves: dict[str, dict[str, list[float]]],
    severities: list[int],
    *,
    title: str,
    path_stem: Path,
) -> list[Path]:
    """severity_figure(...) written as `<stem>.png` and `<stem>.pdf`."""
    fig = severity_figure(curves, severities, title=title)
    with plt.rc_context(STYLE):
        return save(fig, path_stem)
