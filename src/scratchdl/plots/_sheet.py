"""One look for every figure of scratchdl: the style sheet and how a figure is saved.

Figures are files (PNG and PDF), never windows: nothing here calls plt.show(). No backend is
forced at import; without a display matplotlib picks its file backend (Agg) by itself.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

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


def save(fig: plt.Figure, path_stem: Path) -> list[Path]:
    """Write `<stem>.png` (200 dpi) and `<stem>.pdf`; return both paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=200)
    plt.close(fig)
    return paths


