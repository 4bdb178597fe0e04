"""word2vec (Mikolov et al. 2013; the book's sec. 15.1-15.4): skip-gram and CBOW with negative
sampling. The data side (subsampling, context windows, the noise distribution) is
scratchdl.text.embeddings.sampling.

    model = Word2Vec(vocab_size, 100, "skipgram")  # or "cbow"
    loss = model.loss(centres, ctx, mask, negatives)

Loss (SGNS): for a centre c with context o and K noise words n_k,
-log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_{n_k} . v_c), which is binary cross-entropy
of the score against label 1 for o and 0 for each n_k. Skip-gram: every (centre, context)
pair is a term, averaged over the pairs of a batch. CBOW: v is the mean of the context
vectors, o the centre; averaged over centres. v: the centre ("input") table, u: the context
("output") table; the input table is the word vectors we keep.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model

MODES = ("skipgram", "cbow")


def sgns_loss(v: Tensor, u_pos: Tensor, u_neg: Tensor) -> Tensor:
    """Per-row SGNS loss: v [B, d], u_pos [B, d], u_neg [B, K, d] -> [B]."""
    pos = (v * u_pos).sum(-1)
    neg = torch.einsum("bd,bkd->bk", v, u_neg)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


class Word2Vec(nn.Module):
    """Two embedding tables (centre v, context u) trained by skip-gram or CBOW with negatives."""

    def __init__(self, vocab_size: int, dim: int = 100, mode: str = "skipgram") -> None:
        super().__init__()
        if mode not in MODES:
            raise UserError(f"word2vec mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.center = nn.Embedding(vocab_size, dim)  # v: the vectors we keep
        self.context = nn.Embedding(vocab_size, dim)  # u
        nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)  # word2vec.c's init
        nn.init.zeros_(self.context.weight)

    def loss(self, centres: Tensor, ctx: Tensor, mask: Tensor, negatives: Tensor) -> Tensor:
        """Mean SGNS loss of a batch: centres [B], ctx/mask [B, C], negatives [B, C, K] (one
        set of K noise words per context slot; CBOW uses negatives[:, 0])."""
        if self.mode == "skipgram":
            rows, cols = mask.nonzero(as_tuple=True)
            v = self.center(centres[rows])
            return sgns_loss(
                v, self.context(ctx[rows, cols]), self.context(negatives[rows, cols])
            ).mean()
        m = mask.unsqueeze(-1).float()
        v = (self.center(ctx) * m).sum(1) / m.sum(1).clamp_min(1.0)
        return sgns_loss(v, self.context(centres), self.context(negatives[:, 0])).mean()

    def vectors(self) -> Tensor:
        return self.center.weight.detach()


WORD2VEC_OPTIONS: dict[str, Any] = {"dim": 100}


def _word2vec(mode: str):
    def build(*, vocab_size: int, dim: int) -> Word2Vec:
        return Word2Vec(vocab_size, dim, mode)

    build.__doc__ = f"word2vec {mode} with negative sampling (book sec. 15.1-15.4)."
    return build


for _mode in MODES:
    register_model(_mode, "word-embedding", options=WORD2VEC_OPTIONS)(_word2vec(_mode))
