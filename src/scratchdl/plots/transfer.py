"""The transfer run's figure: validation accuracy per epoch of each mode on one axis."""

from __future__ import annotations

import json
from pathlib import Path

from scratchdl.plots._sheet import STYLE, plt


def plot_modes(metrics_path: Path, out: Path, title: str, modes: list[str]) -> None:
    """transfer.png: validation accuracy per epoch of each mode, on one axis.

    metrics.jsonl rows carry `phase` (index into `modes`, the run's phases) and `phase_epoch`.
    """
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    with plt.rc_context(STYLE):
        _draw(rows, out, title, modes)


def _draw(rows: list[dict], out: Path, title: str, modes: list[str]) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    for i, mode in enumerate(modes):
        mine = [r for r in rows if r.get("phase") == i and "val_accuracy" in r]
        if mine:
            ax.plot(
                [r["phase_epoch"] for r in mine],
                [r["val_accuracy"] for r in mine],
                marker="o",
                ms=3,
                label=mode,
            )
    ax.set_xlabel("epoch (within mode)")
    ax.set_ylabel("val_accuracy")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(out)
