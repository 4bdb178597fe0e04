"""Corpus statistics: n-gram counts, the Zipf exponent, and the Zipf (rank-frequency) plot.

counts = ngram_counts(tokenize(text, "word"), 2)   # Counter({("of", "the"): 912, ...})
zipf_plot(tokens, "out/zipf")                      # out/zipf.png and out/zipf.pdf
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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


def _as_curves(
    tokens_or_counts: Sequence[str] | Counter | Mapping[int, Counter], ns: Sequence[int]
) -> dict[int, Counter]:
    """{n: counts} from tokens (counted for each n in ns), one Counter, or a {n: Counter}."""
    if isinstance(tokens_or_counts, Counter):
        keys = iter(tokens_or_counts)
        first = next(keys, None)
        n = len(first) if isinstance(first, tuple) else 1
        return {n: tokens_or_counts}
    if isinstance(tokens_or_counts, Mapping):
        return {int(n): Counter(c) for n, c in tokens_or_counts.items()}
    return {n: ngram_counts(tokens_or_counts, n) for n in ns}


def zipf_plot(
    tokens_or_counts: Sequence[str] | Counter | Mapping[int, Counter],
    path: str | Path,
    ns: Sequence[int] = (1, 2, 3),
    title: str = "Zipf's law",
) -> list[Path]:
    """Log-log plot of n-gram frequency against rank, one curve per n; writes PNG and PDF.

    tokens_or_counts: a token list (counted for every n in `ns`), one Counter from
    ngram_counts (its n read from the keys), or a {n: Counter} mapping. `path` is the file
    stem: any suffix is replaced by .png and .pdf. Each legend entry shows the fitted
    exponent (zipf_exponent). Returns the two paths written.
    """
    curves = _as_curves(tokens_or_counts, ns)
    if not curves or all(len(c) == 0 for c in curves.values()):
        raise UserError("zipf_plot: nothing to plot: the token list or counts are empty")
    from scratchdl.plotstyle import STYLE, plt, save  # matplotlib only when plotting

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        for n, counts in sorted(curves.items()):
            freqs = sorted(counts.values(), reverse=True)
            if not freqs:
                continue
            name = NGRAM_NAMES.get(n, f"{n}-gram")
            a = zipf_exponent(freqs)
            label = f"{name} (a = {a:.2f})" if not math.isnan(a) else name
            ax.loglog(range(1, len(freqs) + 1), freqs, lw=1.2, label=label)
        ax.set_xlabel("rank")
        ax.set_ylabel("frequency")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="major")
        ax.legend()
        return save(fig, Path(path))
