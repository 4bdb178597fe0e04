"""Attention heat maps of a translation: which source units each output unit looked at.

    weights = alignment(model, src_ids, src_len, out_ids, bos)     # [heads, T, S] (1 head: GRU)
    heatmaps(weights, source_units, output_units, "Gen.1.1", run_dir / "alignment")

Row t is the step that produced output unit t (the last row produced <eos>); column s is
source unit s (with its <eos>). The decoder is teacher-forced with the model's own output, so
the weights are those it used while translating.
"""

from __future__ import annotations

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
    """One heat map per head ([heads, T, S]), source along x, output along y; PNG and PDF
    (plotstyle.attention_heatmap, the workbench's heat map)."""
    heads, rows, cols = weights.shape
    if rows != len(output) or cols != len(source):
        raise UserError(
            f"heatmaps: weights [{heads}, {rows}, {cols}] need {rows} output and {cols} source "
            f"labels, got {len(output)} and {len(source)}"
        )
    titles = [f"head {h + 1}" for h in range(heads)] if heads > 1 else None
    return plotstyle.attention_heatmap(
        weights, source, output, path_stem, xlabel="source", ylabel="output", titles=titles,
        title=title, max_ticks=60,
    )
