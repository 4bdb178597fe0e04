"""Attention heat maps of a causal language model: one panel per head, query rows x key
columns, on a short prefix (scratchdl.plotstyle look, PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.plotstyle import STYLE, plt, save


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
