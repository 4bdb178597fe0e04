"""Ablation charts: a line over one numeric key, else bars of the metric and its change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import NullFormatter

from scratchdl.config import format_value, is_number
from scratchdl.plots._sheet import STYLE, plt, save


def ablate_chart(
    rows: list[dict[str, Any]],
    keys: list[str],
    metric: str,
    seeds: int,
    recipe: str,
    path_stem: Path,
) -> tuple[list[Path], str]:
    """A line over the value when one numeric key varies, else horizontal bars; base highlighted.

    Every axis carries one quantity: the bars chart puts the metric (from 0) and the change
    from the base (through 0) on two panels side by side.

    Returns the written paths and the kind of chart ('line' or 'bars').
    """
    name = metric.replace("_", " ")
    title = f"Ablation of {recipe}: {name}, mean ± std over {seeds} seed(s)"
    one_numeric = len(keys) == 1 and all(is_number(r["settings"][keys[0]]) for r in rows)
    with plt.rc_context(STYLE):
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        if one_numeric:
            fig = _line(rows, keys[0], name, colors)
        else:
            fig = _bars(rows, name, colors)
        if one_numeric:
            fig.axes[0].set_title(title)
        else:
            fig.suptitle(title)
            fig.tight_layout()
        return save(fig, path_stem), "line" if one_numeric else "bars"


def _line(rows, key: str, ylabel: str, colors: list[str]):
    points = sorted((r["settings"][key], r["mean"], r["std"]) for r in rows if not r["is_base"])
    xs, means, stds = (list(t) for t in zip(*points, strict=True))
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    ax.errorbar(xs, means, yerr=stds, marker="o", ms=4, capsize=3, color=colors[0], label="variant")
    base = rows[0]
    ax.axhline(base["mean"], color=colors[1], ls="--", lw=0.9)
    ax.errorbar(
        [base["settings"][key]],
        [base["mean"]],
        yerr=[base["std"]],
        marker="D",
        ms=6,
        capsize=3,
        color=colors[1],
        ls="none",
        label=f"base recipe ({key}={format_value(base['settings'][key])}, dashed)",
    )
    positive = [x for x in xs + [base["settings"][key]] if x > 0]
    if len(positive) == len(xs) + 1 and max(positive) / min(positive) >= 100:
        ax.set_xscale("log")  # a sweep over decades (learning rates) reads best on a log axis
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide
    ax.set_xlabel(key)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def _bars(rows, xlabel: str, colors: list[str]):
    """Two panels on the variant axis, one quantity each: the metric (bars from 0) and the
    change from the base (bars from 0 at the base's value), each with its own numbers."""
    height = max(1.8, 0.32 * len(rows) + 1.0)
    fig, (ax, delta) = plt.subplots(
        1, 2, figsize=(7.4, height), sharey=True, gridspec_kw={"width_ratios": [1.2, 1.0]}
    )
    ys = list(range(len(rows)))
    means = [r["mean"] for r in rows]
    stds = [r["std"] for r in rows]
    style = {"capsize": 3, "edgecolor": "black", "linewidth": 0.6, "error_kw": {"elinewidth": 0.8}}
    ax.barh(
        ys,
        means,
        xerr=stds,
        color=[colors[1] if r["is_base"] else colors[0] for r in rows],
        **style,
    )
    high = max(m + s for m, s in zip(means, stds, strict=True))
    low = min(0.0, min(m - s for m, s in zip(means, stds, strict=True)))
    pad = max((high - low) * 0.04, 1e-3)
    for y, m, s in zip(ys, means, stds, strict=True):  # each number right of its error bar
        ax.text(max(m + s, 0.0) + pad, y, f"{m:.4f}", va="center", fontsize=7)
    ax.set_xlim(low - (pad if low < 0 else 0.0), high + 7 * pad)  # bars start at 0
    ax.set_yticks(ys, [r["variant"] for r in rows])
    ax.invert_yaxis()  # base on top, as in a table
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)

    others = rows[1:]
    changes = [r["change"] for r in others]
    delta.barh(ys[1:], changes, xerr=[r["std"] for r in others], color=colors[0], **style)
    delta.axvline(0.0, color=colors[1], lw=1.2)
    reach = max(abs(c) + r["std"] for c, r in zip(changes, others, strict=True)) or 1e-3
    for y, c, r in zip(ys[1:], changes, others, strict=True):
        side = 1 if c >= 0 else -1  # outside the bar's end, past its error bar
        delta.text(
            c + side * (r["std"] + 0.06 * reach),
            y,
            f"{c:+.4f}",
            va="center",
            ha="left" if side > 0 else "right",
            fontsize=7,
        )
    delta.set_xlim(-1.6 * reach, 1.6 * reach)
    delta.set_xlabel("change vs base (mean ± std)")
    delta.grid(axis="x", alpha=0.3)
    delta.tick_params(axis="y", left=False)
    return fig
