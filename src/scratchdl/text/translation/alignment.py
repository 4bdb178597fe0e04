"""Attention heat maps of a translation: which source units each output unit looked at.

    weights = alignment(model, src_ids, src_len, out_ids, bos)     # [heads, T, S] (1 head: GRU)
    heatmaps(weights, source_units, output_units, "Gen.1.1", run_dir / "alignment")

Row t is the step that produced output unit t (the last row produced <eos>); column s is
source unit s (with its <eos>). The decoder is teacher-forced with the model's own output, so
the weights are those it used while translating.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from scratchdl import plotstyle
from scratchdl.errors import UserError


@torch.no_grad()
def alignment(
    model: nn.Module, src: torch.Tensor, src_len: torch.Tensor, out: list[int], bos: int
) -> torch.Tensor:
    """Attention weights [heads, len(out) + 1, src_len] of one sentence (src [1, S]): the
    Bahdanau model's one map, or each head of the Transformer's last decoder layer."""
    tgt_in = torch.tensor([[bos, *out]], device=src.device)
    was_training = model.training
    model.eval()
    try:
        if hasattr(model, "cross_attention"):
            weights = model.cross_attention(src, src_len, tgt_in)[-1][0]  # [H, T, S]
        elif hasattr(model, "attention_weights"):
            model(src, src_len, tgt_in)
            weights = model.attention_weights[0].unsqueeze(0)  # [1, T, S]
        else:
            raise UserError(f"{type(model).__name__} has no attention to plot")
    finally:
        model.train(was_training)
    return weights[..., : int(src_len[0])].float().cpu()


def heatmaps(
    weights: torch.Tensor, source: list[str], output: list[str], title: str, path_stem: Path
) -> list[Path]:
    """One heat map per head ([heads, T, S]), source along x, output along y; PNG and PDF."""
    heads, rows, cols = weights.shape
    if rows != len(output) or cols != len(source):
        raise UserError(
            f"heatmaps: weights [{heads}, {rows}, {cols}] need {rows} output and {cols} source "
            f"labels, got {len(output)} and {len(source)}"
        )
    per_row = min(heads, 2)
    grid = math.ceil(heads / per_row)
    cell = 0.22
    w, h = max(2.5, cols * cell + 1.2), max(2.0, rows * cell + 1.0)
    with plotstyle.plt.rc_context(plotstyle.STYLE):
        fig, axes = plotstyle.plt.subplots(
            grid, per_row, figsize=(w * per_row, h * grid), squeeze=False
        )
        for i, ax in enumerate(axes.flat):
            if i >= heads:
                ax.axis("off")
                continue
            image = ax.imshow(weights[i].numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(cols), source, rotation=90, fontsize=6)
            ax.set_yticks(range(rows), output, fontsize=6)
            ax.set_xlabel("source")
            ax.set_ylabel("output")
            if heads > 1:
                ax.set_title(f"head {i + 1}")
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="attention weight")
        fig.suptitle(title)
        return plotstyle.save(fig, path_stem)
