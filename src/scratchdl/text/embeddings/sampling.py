"""word2vec's data side (Mikolov et al. 2013; the book's sec. 15.1-15.4): subsampling,
context windows, the noise distribution, analogy queries. The model is
scratchdl.models.text.word2vec.

    counts = token counts; ids = a corpus as token ids (sentences separated by -1)
    keep = keep_probability(counts, t=1e-4)        # subsampling of frequent words
    noise = noise_distribution(counts)             # unigram^0.75 for negative sampling
    ctx, mask = context_windows(ids, 5, gen)       # [N, 10] contexts of each centre, mask

Subsampling (sec. 15.3.1): a token of word w with relative frequency f(w) = count/total is
kept with probability min(1, sqrt(t / f(w))) (dropped with max(0, 1 - sqrt(t / f(w)))).
Context windows: each centre draws its own window size in 1..max_window and takes the tokens
at most that far on either side, within its sentence. Negatives: drawn from P(w) ~ count^0.75.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from scratchdl.errors import UserError


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
