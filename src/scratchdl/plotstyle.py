"""One look for every figure of scratchdl (per-run curves, text statistics, the workbench).

Lives below every other package so that train/, text/ and workbench/ can all draw with it.
matplotlib runs on the Agg backend: figures are files, never windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def save(fig: plt.Figure, path_stem: Path) -> list[Path]:
    """Write `<stem>.png` (200 dpi) and `<stem>.pdf`; return both paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [path_stem.with_suffix(".png"), path_stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=200)
    plt.close(fig)
    return paths


def attention_heatmap(weights: Any, xlabels: Sequence[str] | None = None,
                      ylabels: Sequence[str] | None = None, path: Path | str = "attention",
                      *, xlabel: str = "keys", ylabel: str = "queries",
                      titles: Sequence[str] | None = None, title: str = "",
                      max_ticks: int = 30) -> list[Path]:
    """Attention weights as a heat map, written as `<path>.png` and `<path>.pdf`.

    weights: [Q, K] (one map) or [H, Q, K] (a grid, one panel per head), a tensor or array.
    xlabels / ylabels: the keys' and queries' tokens (numeric ticks when None; every k-th
    label when there are more than max_ticks). One colour scale 0..max for all panels, so
    heads compare. Returns the paths written.
    """
    import numpy as np

    w = weights.detach().float().cpu().numpy() if hasattr(weights, "detach") else \
        np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] == 0 or w.shape[2] == 0:
        from scratchdl.errors import UserError

        raise UserError(f"attention_heatmap expects weights [Q, K] or [H, Q, K], got shape "
                        f"{tuple(w.shape)}")
    heads, Q, K = w.shape
    cols = min(heads, 4)
    rows = -(-heads // cols)
    size = (min(2.2 + 0.12 * K, 6.0), min(1.8 + 0.12 * Q, 6.0))
    vmax = float(w.max()) if w.max() > 0 else 1.0
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows),
                                 squeeze=False)
        for h, ax in enumerate(axes.flat):
            if h >= heads:
                ax.axis("off")
                continue
            im = ax.imshow(w[h], cmap="Reds", vmin=0.0, vmax=vmax, aspect="auto",
                           interpolation="nearest")
            if xlabels is not None and len(xlabels) == K:
                step = -(-K // max_ticks)
                ax.set_xticks(range(0, K, step), list(xlabels)[::step], rotation=90)
            if ylabels is not None and len(ylabels) == Q:
                step = -(-Q // max_ticks)
                ax.set_yticks(range(0, Q, step), list(ylabels)[::step])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if titles is not None and h < len(titles):
                ax.set_title(titles[h])
            elif heads > 1:
                ax.set_title(f"head {h}")
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
        if title:
            fig.suptitle(title)
        return save(fig, Path(path))
