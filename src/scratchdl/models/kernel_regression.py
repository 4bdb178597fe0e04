"""Nadaraya-Watson kernel regression: attention pooling in its simplest form (book sec. 10.2).

The prediction at a query x is a weighted mean of the training targets y_i, the weights a
softmax over a Gaussian kernel of the distances: alpha(x, x_i) = softmax_i(-((x - x_i) w)^2 / 2).
w = 1 is the non-parametric estimator with a fixed width (bandwidth 1 / w); a learned w
(the parametric version) picks the width from data.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scratchdl.models._registry import register_model
from scratchdl.nn.attention import masked_softmax


class NadarayaWatson(nn.Module):
    """forward(queries [Q], keys [K], values [K], mask [Q, K] bool True = use) -> [Q];
    keeps `attention_weights` [Q, K] for the heat map. `w` is trained when learn_width."""

    def __init__(self, w: float = 1.0, learn_width: bool = True) -> None:
        super().__init__()
        if learn_width:
            self.w = nn.Parameter(torch.tensor(float(w)))
        else:
            self.register_buffer("w", torch.tensor(float(w)))
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                mask: Tensor | None = None) -> Tensor:
        scores = -((queries[:, None] - keys[None, :]) * self.w) ** 2 / 2
        self.attention_weights = masked_softmax(scores, mask=mask)
        return self.attention_weights @ values


@register_model("nadaraya-watson", "kernel-regression", options={"w": 1.0})
def nadaraya_watson(*, learn_width: bool = True, w: float = 1.0) -> NadarayaWatson:
    """Gaussian-kernel attention pooling; w (inverse width) starts at the fixed estimator's."""
    return NadarayaWatson(w, learn_width)
