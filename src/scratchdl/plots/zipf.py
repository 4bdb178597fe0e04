"""Zipf's law: n-gram frequency against rank on log-log axes, with the fitted exponent."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from scratchdl.errors import UserError
from scratchdl.plots._sheet import STYLE, plt, save
from scratchdl.text.tokens.counts import NGRAM_NAMES, ngram_counts, zipf_exponent


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
