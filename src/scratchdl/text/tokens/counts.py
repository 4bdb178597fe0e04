"""Corpus statistics: n-gram counts and the Zipf exponent (the plot: scratchdl.plots.zipf).

counts = ngram_counts(tokenize(text, "word"), 2)   # Counter({("of", "the"): 912, ...})
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from scratchdl.errors import UserError

NGRAM_NAMES = {1: "unigram", 2: "bigram", 3: "trigram"}


def ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams of `tokens`: keys are n-tuples of tokens (1-tuples for n=1).

    An n-gram is n consecutive tokens; a sequence of N tokens has max(N - n + 1, 0) of them.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"ngram_counts: n must be an int >= 1, got {n!r}")
    if isinstance(tokens, str):
        raise UserError("ngram_counts: expected a list of tokens, got one str; tokenize it first")
    tokens = list(tokens)
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def zipf_exponent(counts: Mapping | Iterable[int], skip: int = 10) -> float:
    """Zipf exponent a of counts sorted by rank r, fitted as log count = -a log r + c.

    Least squares on the log-log curve, leaving out the `skip` most frequent entries (the
    bend at the top that Zipf's law does not describe). nan if fewer than 2 ranks remain.
    """
    values = counts.values() if isinstance(counts, Mapping) else counts
    freqs = sorted((int(c) for c in values if c > 0), reverse=True)[skip:]
    if len(freqs) < 2:
        return math.nan
    xs = [math.log(r) for r in range(skip + 1, skip + 1 + len(freqs))]
    ys = [math.log(c) for c in freqs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return -sxy / sxx




