"""Robustness charts: a radar (one axis per corruption) and accuracy-vs-severity lines."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from scratchdl.plots.charts import STYLE, fit_xtick_labels, save


def pretty(name: str) -> str:
    """'gaussian_noise' -> 'Gaussian noise' (axis and column labels)."""
    text = name.replace("_", " ")
    return text[0].upper() + text[1:] if text else text


def _radial_top(values: list[float]) -> float:
    """The outer ring: the largest value rounded up to 0.1 (1.0 for accuracies near 1)."""
    return max(0.1, math.ceil(max(values) * 10 - 1e-9) / 10)


def radar_figure(
    axes_names: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    clean: dict[str, float] | None = None,
    notes: dict[str, str] | None = None,
) -> plt.Figure:
    """A polar figure with one spoke per name in `axes_names` and one closed polygon per series.

    series: label -> one value per axis (same order). clean: label -> a value drawn as a dashed
    circle of the series' colour (the accuracy without corruption). notes: axis name -> a second
    line under its spoke label (e.g. the corruption's parameter range). The radius starts at 0:
    a zoomed centre makes a 5% gap look like a 3x one. With fewer than three axes a polygon is a
    line, so the figure is a grouped bar chart instead. Caller saves or closes it.
    """
    if len(axes_names) < 3:
        return _bars_figure(axes_names, series, title=title, clean=clean, notes=notes)
    with plt.rc_context(STYLE):
        k = len(axes_names)
        angles = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
        fig, ax = plt.subplots(figsize=(4.2, 4.0), subplot_kw={"projection": "polar"})
        ax.set_theta_offset(np.pi / 2)  # first axis at the top, then clockwise
        ax.set_theta_direction(-1)
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        ring = np.linspace(0.0, 2 * np.pi, 200)
        everything = [v for vals in series.values() for v in vals] + list((clean or {}).values())
        polygons = []
        for i, (label, values) in enumerate(series.items()):
            color = colors[i % len(colors)]
            closed_a = np.append(angles, angles[0])
            closed_v = np.append(values, values[0])
            (line,) = ax.plot(
                closed_a,
                closed_v,
                color=color,
                linewidth=1.4,
                marker="o",
                markersize=3.5,
                label=label,
            )
            polygons.append(line)
            ax.fill(closed_a, closed_v, color=color, alpha=0.12)
            if clean and label in clean:
                ax.plot(
                    ring,
                    np.full_like(ring, clean[label]),
                    color=color,
                    linewidth=0.8,
                    linestyle="--",
                )
        high = _radial_top(everything)
        ax.set_ylim(0.0, high)
        step = 0.1 if high <= 0.5 else 0.2
        ticks = [round(t, 2) for t in np.arange(step, high + 1e-9, step)]
        ax.set_yticks(ticks, [""] * len(ticks))  # gridlines only: the numbers are placed below
        ax.set_xticks(angles, [_spoke_label(n, notes) for n in axes_names])
        ax.tick_params(axis="x", pad=4)
        for text, angle in zip(ax.get_xticklabels(), angles, strict=True):
            side = np.sin(angle)  # angle runs clockwise from the top: > 0 is the right half
            align = "left" if side > 0.1 else "right" if side < -0.1 else "center"
            text.set_horizontalalignment(align)
        ax.grid(alpha=0.35)
        ax.set_title(title, pad=18)
        note = "radius: test accuracy, from 0 at the centre"
        note += "; dashed: clean accuracy" if clean else ""
        fig.text(0.5, 0.005, note, ha="center", fontsize=7, style="italic")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.08), frameon=False)
        _place_radial_labels(fig, ax, angles, [0.0, *ticks], polygons)
        return fig


def _spoke_label(name: str, notes: dict[str, str] | None) -> str:
    note = (notes or {}).get(name)
    return f"{pretty(name)}\n{note}" if note else pretty(name)


def _place_radial_labels(fig, ax, angles, ticks: list[float], polygons: list) -> None:
    """Write the radius numbers along the ray between two spokes that no polygon edge crosses
    near a number (tried: gap middles, then off-centre rays), each on a white box. Spiky data
    can leave no free ray: then the numbers still on an edge are dropped (their rings stay)."""
    fig.canvas.draw()  # fixes the layout: data -> pixel transforms are final from here
    renderer = fig.canvas.get_renderer()
    edges = [line.get_transform().transform(line.get_xydata()) for line in polygons]
    gap = 2 * np.pi / len(angles)
    fractions = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88)
    candidates = [a + gap * f for f in fractions for a in angles]
    best, best_hits = candidates[0], None
    for angle in candidates:
        texts = [_radial_text(ax, angle, t) for t in ticks]
        hits = sum(
            _crosses(points, text.get_window_extent(renderer)) for text in texts for points in edges
        )
        for text in texts:
            text.remove()
        if best_hits is None or hits < best_hits:
            best, best_hits = angle, hits
        if hits == 0:
            break
    # no free ray (spiky data): a number that would still sit on an edge is left out; its
    # ring stays and the other numbers name the scale
    for t in ticks:
        text = _radial_text(ax, best, t)
        if any(_crosses(points, text.get_window_extent(renderer)) for points in edges):
            text.remove()


def _radial_text(ax, angle: float, r: float):
    return ax.text(
        angle,
        r,
        f"{r:.1f}",
        ha="center",
        va="center",
        fontsize=7,
        zorder=5,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
    )


def _crosses(points: np.ndarray, box, pad: float = 4.0) -> bool:
    """Does the polyline (pixels) pass through the box grown by `pad` pixels?"""
    lo = np.array([box.x0 - pad, box.y0 - pad])
    hi = np.array([box.x1 + pad, box.y1 + pad])
    t = np.linspace(0.0, 1.0, 64)[:, None]
    for a, b in zip(points[:-1], points[1:], strict=True):
        samples = a + t * (b - a)
        if np.any(np.all((samples >= lo) & (samples <= hi), axis=1)):
            return True
    return False


def _bars_figure(
    axes_names: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    clean: dict[str, float] | None,
    notes: dict[str, str] | None,
) -> plt.Figure:
    """Grouped bars (clean, then one group per axis name), bars from 0: a radar needs >= 3."""
    with plt.rc_context(STYLE):
        groups = (["clean"] if clean else []) + list(axes_names)
        labels = (["Clean"] if clean else []) + [
            _spoke_label(n, notes).replace(": ", ":\n") for n in axes_names
        ]
        width = 0.8 / max(len(series), 1)
        per_group = max(1.7, 0.55 * max(len(series), 1))  # room for a three-line label
        fig, ax = plt.subplots(figsize=(max(3.4, per_group * len(groups) + 1.6), 3.0))
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        for i, (label, values) in enumerate(series.items()):
            heights = ([clean.get(label, 0.0)] if clean else []) + list(values)
            xs = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
            ax.bar(
                xs,
                heights,
                width=width,
                color=colors[i % len(colors)],
                edgecolor="black",
                linewidth=0.6,
                label=label,
            )
            for x, h in zip(xs, heights, strict=True):
                ax.text(x, h, f"{h:.4f}", ha="center", va="bottom", fontsize=7)
        top = max([*(v for vs in series.values() for v in vs), *(clean or {}).values()])
        ax.set_ylim(0.0, top * 1.12)
        ax.set_xticks(range(len(groups)), labels)
        fit_xtick_labels(fig, ax)
        ax.set_ylabel("test accuracy")
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        return fig


def radar_chart(
    axes_names: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    path_stem: Path,
    clean: dict[str, float] | None = None,
    notes: dict[str, str] | None = None,
) -> list[Path]:
    """radar_figure(...) written as `<stem>.png` and `<stem>.pdf` (bars below three axes)."""
    fig = radar_figure(axes_names, series, title=title, clean=clean, notes=notes)
    with plt.rc_context(STYLE):  # savefig.bbox = tight is read at save time
        return save(fig, path_stem)


def severity_figure(
    curves: dict[str, dict[str, list[float]]],
    severities: list[int] | dict[str, list[int]],
    *,
    title: str,
    levels: dict[str, tuple[str, list[str]]] | None = None,
) -> plt.Figure:
    """One subplot per corruption, one line per run: accuracy at severity 0 (clean) and above.

    curves: corruption -> run label -> accuracies at `severities` (which starts with 0; a dict
    gives each corruption or attack its own positions, e.g. one per epsilon).
    levels: corruption -> (parameter and unit, its value at severity 0..5): each tick then shows
    the severity over the parameter's value, and the axis label names the parameter.
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
            xs = severities[name] if isinstance(severities, dict) else severities
            for label, accs in curves[name].items():
                ax.plot(xs, accs, marker="o", markersize=3.5, linewidth=1.3, label=label)
            ax.set_title(pretty(name))
            ax.set_ylim(low, high)
            ax.grid(alpha=0.3)
            if levels and name in levels:
                unit, values = levels[name]
                if unit.startswith("ε"):  # an attack: the axis is epsilon itself
                    ax.set_xticks(xs, [values[s] for s in xs], fontsize=7)
                    ax.set_xlabel(unit)
                else:
                    ax.set_xticks(xs, [f"{s}\n{values[s]}" for s in xs], fontsize=7)
                    ax.set_xlabel(f"severity / {unit}")
            else:
                ax.set_xticks(xs)
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
    severities: list[int] | dict[str, list[int]],
    *,
    title: str,
    path_stem: Path,
    levels: dict[str, tuple[str, list[str]]] | None = None,
) -> list[Path]:
    """severity_figure(...) written as `<stem>.png` and `<stem>.pdf`."""
    fig = severity_figure(curves, severities, title=title, levels=levels)
    with plt.rc_context(STYLE):
        return save(fig, path_stem)
