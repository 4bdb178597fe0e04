"""Losses written out: label-smoothed cross-entropy (twin: F.cross_entropy(label_smoothing=))."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from scratchdl.errors import UserError

__all__ = ["label_smoothed_cross_entropy"]


def label_smoothed_cross_entropy(logits: Tensor, target: Tensor, smoothing: float = 0.0,
                                 ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Cross-entropy against (1 - eps) one-hot + eps / C uniform, so the model is not pushed
    to infinite confidence (Szegedy et al. 2016; the Transformer uses eps = 0.1).

    logits [N, C] or [N, C, d1, ...] (classes on axis 1, as torch), target [N] or [N, d1, ...]
    class indices; positions equal to ignore_index (padding) add nothing and do not count in
    the mean. loss = (1 - eps) * (-log p_target) + eps * mean_c(-log p_c).
    """
    if not 0.0 <= smoothing <= 1.0:
        raise UserError(f"smoothing must lie in [0, 1], got {smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise UserError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.dim() < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise UserError(f"logits [N, C, ...] {tuple(logits.shape)} and target [N, ...] "
                        f"{tuple(target.shape)} do not match")
    logp = F.log_softmax(logits, dim=1)
    keep = target != ignore_index
    safe = target.masked_fill(~keep, 0)
    nll = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    uniform = -logp.mean(dim=1)
    loss = ((1.0 - smoothing) * nll + smoothing * uniform) * keep
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum().to(loss.dtype)  # all ignored: 0/0 = nan, as torch
