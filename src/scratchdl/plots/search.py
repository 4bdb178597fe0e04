"""The search figure: one panel per searched key, the metric of every trial against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from matplotlib.ticker import MaxNLocator, NullFormatter

from scratchdl.config import format_value
from scratchdl.plots.charts import STYLE, fit_xtick_labels, plt, save


class Dimension(Protocol):
    """What the chart reads of a searched key (scratchdl.workbench.search.Dimension)."""

    key: str
    kind: str
    choices: tuple[str, ...]


def search_chart(
    rows: list[dict[str, Any]],
    dims: list[Dimension],
    metric: str,
    method: str,
    recipe: str,
    path_stem: Path,
) -> list[Path]:
    """One panel per key: metric vs value, a colour per epoch budget, the best trial starred."""
    name = metric.replace("_", " ")
    with plt.rc_context(STYLE):
        colors = [c["color"] for c in plt.rcParams["axes.prop_cycle"]]
        fig, axes = plt.subplots(
            1, len(dims), figsize=(max(4.2, 2.9 * len(dims) + 0.4), 2.7), sharey=True, squeeze=False
        )
        budgets = sorted({r["epochs"] for r in rows})
        best = next(r for r in rows if r["rung"] == rows[-1]["rung"] and r["kept"])
        for ax, dim in zip(axes[0], dims, strict=True):
            xs_all = [r["settings"][dim.key] for r in rows]
            numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs_all)
            # lists and names get one evenly spaced position per distinct value
            in_space_order = sorted(rows, key=lambda r: _space_index(dim, r["params"][dim.key]))
            labels = list(
                dict.fromkeys(format_value(r["settings"][dim.key]) for r in in_space_order)
            )
            where = {} if numeric else {label: i for i, label in enumerate(labels)}
            for i, budget in enumerate(budgets):
                group = [r for r in rows if r["epochs"] == budget]
                xs = [_x(r["settings"][dim.key], where) for r in group]
                ax.scatter(
                    xs,
                    [r["value"] for r in group],
                    s=18,
                    color=colors[i % len(colors)],
                    edgecolor="black",
                    linewidth=0.4,
                    label=f"{budget} epoch{'s' if budget > 1 else ''}",
                    zorder=2,
                )
            ax.scatter(
                [_x(best["settings"][dim.key], where)],
                [best["value"]],
                s=170,
                marker="*",
                facecolor="none",
                edgecolor="#D55E00",
                linewidth=1.1,
                label="selected",
                clip_on=False,
                zorder=3,
            )
            if not numeric:
                ax.set_xticks(range(len(labels)), labels)
                ax.set_xlim(-0.6, len(labels) - 0.4)
            else:
                if dim.kind == "loguniform" or _spans_decades(xs_all):
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide
                else:
                    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
                ax.margins(x=0.1)  # the selected star's half-width stays inside the panel
            ax.set_xlabel(dim.key + (" (log scale)" if ax.get_xscale() == "log" else ""))
            ax.grid(alpha=0.3)
        axes[0][0].margins(y=0.18)  # shared y: room for the star above the best value
        axes[0][0].set_ylabel(name)
        axes[0][-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle(f"{method} search on {recipe}: {name} vs each hyperparameter")
        fig.tight_layout()
        for ax in axes[0]:
            fit_xtick_labels(fig, ax)
        fig.tight_layout()  # vertical labels are taller
        return save(fig, path_stem)


def _space_index(dim: Dimension, raw: str) -> int:
    """Where a raw value sits in the key's choice list (ranges: all equal, numeric axis)."""
    return dim.choices.index(raw) if raw in dim.choices else 0


def _x(value: Any, where: dict[str, int]) -> float:
    """A numeric value itself, else its categorical position."""
    return float(where[format_value(value)]) if where else float(value)


def _spans_decades(xs: list[Any]) -> bool:
    """Positive values spread over >= 2 decades (e.g. learning rates) read best on a log axis."""
    return all(x > 0 for x in xs) and max(xs) / min(xs) >= 100
