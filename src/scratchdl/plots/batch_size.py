"""The batch-size study chart: the metric against the global batch size, with and without
the linear scaling rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scratchdl.plots._sheet import STYLE, plt, save


def study_chart(rows: list[dict[str, Any]], metric: str, recipe: str, stem: Path) -> list[Path]:
    """Metric against batch size (log2 axis), one line per setting, error bars = std."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for name, marker in zip(dict.fromkeys(r["setting"] for r in rows), "os^v", strict=False):
            mine = [r for r in rows if r["setting"] == name]
            ax.errorbar(
                [r["batch_size"] for r in mine],
                [r["mean"] for r in mine],
                yerr=[r["std"] for r in mine],
                marker=marker,
                capsize=3,
                label=name,
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(metric.replace("_", " "))
        ax.set_title(f"{recipe}: batch size and the linear scaling rule")
        ax.legend()
        fig.tight_layout()
        return save(fig, stem)
