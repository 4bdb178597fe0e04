"""The attention weights a translation model used while translating one sentence.

Row t is the step that produced output unit t (the last row produced <eos>); column s is
source unit s (with its <eos>). The decoder is teacher-forced with the model's own output, so
the weights are those it used while translating. Drawn by scratchdl.plots.alignment.
"""

from __future__ import annotations

import torch
from torch import nn

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
