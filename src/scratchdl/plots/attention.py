"""Attention heat maps: any [Q, K] or [H, Q, K] weights (attention_heatmap), and a causal
language model's heads on a short prefix (attention_heatmaps)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scratchdl.errors import UserError
from scratchdl.plots._sheet import STYLE, plt, save


def attention_heatmaps(
    weights: torch.Tensor, tokens: list[str], path_stem: Path, title: str = ""
) -> list[Path]:
    """Draw weights [H, T, T] (row i: how query token i spreads its attention over keys
    0..T-1; each row sums to 1, the upper triangle is 0 in a causal model); returns the
    .png and .pdf paths."""
    if weights.dim() != 3 or weights.shape[1:] != (len(tokens), len(tokens)):
        raise UserError(
            f"attention_heatmaps: expected weights [H, {len(tokens)}, {len(tokens)}] for "
            f"{len(tokens)} tokens, got {tuple(weights.shape)}"
        )
    heads = weights.shape[0]
    labels = [repr(t)[1:-1] if t != " " else "␣" for t in tokens]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, heads, figsize=(2.4 * heads + 0.6, 2.8), squeeze=False)
        for h, ax in enumerate(axes[0]):
            im = ax.imshow(weights[h].float().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"head {h + 1}")
            ax.set_xticks(range(len(labels)), labels, fontsize=5)
            ax.set_yticks(range(len(labels)), labels if h == 0 else [], fontsize=5)
            ax.set_xlabel("key")
            if h == 0:
                ax.set_ylabel("query")
        fig.colorbar(im, ax=list(axes[0]), shrink=0.8, label="attention weight")
        if title:
            fig.suptitle(title)
        return save(fig, path_stem)


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
    w = weights.detach().float().cpu().numpy() if hasattr(weights, "detach") else \
        np.asarray(weights, dtype=float)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] == 0 or w.shape[2] == 0:
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
