"""Attention heat maps of a translation: which source units each output unit looked at.

    weights = alignment(model, src_ids, src_len, out_ids, bos)     # tasks.text._alignment
    heatmaps(weights, source_units, output_units, "Gen.1.1", run_dir / "alignment")

Row t is the step that produced output unit t (the last row produced <eos>); column s is
source unit s (with its <eos>). The decoder is teacher-forced with the model's own output, so
the weights are those it used while translating.
"""

from __future__ import annotations

from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.plots.attention import attention_heatmap


def heatmaps(
    weights: torch.Tensor, source: list[str], output: list[str], title: str, path_stem: Path
) -> list[Path]:
    """One heat map per head ([heads, T, S]), source along x, output along y; PNG and PDF
    (attention_heatmap, the workbench's heat map)."""
    heads, rows, cols = weights.shape
    if rows != len(output) or cols != len(source):
        raise UserError(
            f"heatmaps: weights [{heads}, {rows}, {cols}] need {rows} output and {cols} source "
            f"labels, got {len(output)} and {len(source)}"
        )
    titles = [f"head {h + 1}" for h in range(heads)] if heads > 1 else None
    return attention_heatmap(
        weights, source, output, path_stem, xlabel="source", ylabel="output", titles=titles,
        title=title, max_ticks=60,
    )
