"""word2vec (Mikolov et al. 2013; the book's sec. 15.1-15.4): data pieces and the two models.

    counts = token counts; ids = a corpus as token ids (sentences separated by -1)
    keep = keep_probability(counts, t=1e-4)        # subsampling of frequent words
    noise = noise_distribution(counts)             # unigram^0.75 for negative sampling
    ctx, mask = context_windows(ids, 5, gen)       # [N, 10] contexts of each centre, mask
    model = Word2Vec(vocab_size, 100, "skipgram")  # or "cbow"
    loss = model.loss(centres, ctx, mask, negatives)

Subsampling (sec. 15.3.1): a token of word w with relative frequency f(w) = count/total is
kept with probability min(1, sqrt(t / f(w))) (dropped with max(0, 1 - sqrt(t / f(w)))).
Context windows: each centre draws its own window size in 1..max_window and takes the tokens
at most that far on either side, within its sentence. Negatives: drawn from P(w) ~ count^0.75.

Loss (SGNS, eq. 15.2.x): for a centre c with context o and K noise words n_k,
-log sigmoid(u_o . v_c) - sum_k log sigmoid(-u_{n_k} . v_c), which is binary cross-entropy
of the score against label 1 for o and 0 for each n_k. Skip-gram: every (centre, context)
pair is a term, averaged over the pairs of a batch. CBOW: v is the mean of the context
vectors, o the centre; averaged over centres. v: the centre ("input") table, u: the context
("output") table; the input table is the word vectors we keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError

MODES = ("skipgram", "cbow")


def keep_probability(counts: Tensor, t: float = 1e-4) -> Tensor:
    """Probability of keeping each token of each word: min(1, sqrt(t / f)), f = count/total."""
    if t <= 0:
        raise UserError(f"subsampling threshold t must be > 0, got {t}")
    counts = torch.as_tensor(counts, dtype=torch.float64)
    freq = counts / counts.sum()
    return torch.sqrt(t / freq.clamp_min(1e-30)).clamp(max=1.0)


def subsample(ids: Tensor, keep: Tensor, generator: torch.Generator) -> Tensor:
    """`ids` with each token kept with probability keep[id]; sentence breaks (-1) are kept."""
    word = ids >= 0
    u = torch.rand(len(ids), generator=generator, dtype=torch.float64)
    p = torch.ones(len(ids), dtype=torch.float64)
    p[word] = keep[ids[word]]
    return ids[u < p]


def noise_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    """P(w) proportional to count(w)^power (0.75: the word2vec paper's), as float64."""
    w = torch.as_tensor(counts, dtype=torch.float64) ** power
    if w.sum() <= 0:
        raise UserError("noise distribution: every count is zero")
    return w / w.sum()


def context_windows(
    ids: Tensor, max_window: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """(centres [N], contexts [N, 2*max_window], mask [N, 2*max_window]) for the word tokens
    of `ids` (-1 marks a sentence break). Contexts in order of offset -W..-1, 1..W; mask says
    which are real (offset within the centre's drawn window and inside its sentence)."""
    if max_window < 1:
        raise UserError(f"max_window must be >= 1, got {max_window}")
    n = len(ids)
    sentence = torch.cumsum((ids < 0).long(), 0)  # sentence number of each position
    pos = torch.arange(n)
    words = ids >= 0
    window = torch.randint(1, max_window + 1, (n,), generator=generator)
    offsets = [d for d in range(-max_window, max_window + 1) if d != 0]
    at = pos[:, None] + torch.tensor(offsets)[None, :]
    inside = (at >= 0) & (at < n)
    at = at.clamp(0, max(n - 1, 0))
    mask = inside & (torch.tensor(offsets).abs()[None, :] <= window[:, None])
    mask &= (sentence[at] == sentence[:, None]) & words[at]
    ctx = torch.where(mask, ids[at], torch.zeros_like(at))
    keep = words & mask.any(1)
    return ids[keep], ctx[keep], mask[keep]


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


def analogy_queries(groups: dict[str, Sequence[tuple[str, str]]]) -> list[tuple[str, ...]]:
    """(group, a, b, c, d) for every ordered pair of distinct word pairs (a, b), (c, d) of a
    group: a is to b as c is to d."""
    out = []
    for name, pairs in groups.items():
        for a, b in pairs:
            for c, d in pairs:
                if (a, b) != (c, d):
                    out.append((name, a, b, c, d))
    return out
