"""Paired bootstrap confidence interval for a corpus-BLEU difference (Koehn 2004).

    result = paired_bootstrap(hyps_a, hyps_b, refs, samples=1000, seed=0)
    result.diff, result.low, result.high   # BLEU(B) - BLEU(A) and its 95% interval

Why paired: both systems translate the same test sentences, so one resample of sentence
indices is scored for both and the difference is taken per resample; sentence difficulty then
cancels and the interval is far narrower than two independent intervals. Corpus BLEU is not a
mean over sentences, so each resample recomputes it from summed sufficient statistics
(clipped n-gram matches, n-gram totals, lengths), as corpus_bleu does (BLEU 0..100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from scratchdl.errors import UserError
from scratchdl.metrics.bleu import Tokens, _tokens, ngram_counts


def bleu_stats(hypotheses: Sequence[Tokens], references: Sequence[Tokens],
               max_order: int = 4) -> torch.Tensor:
    """Per-sentence statistics float64 [N, 2 * max_order + 2]: matches_1..n, totals_1..n,
    hypothesis length, reference length."""
    if len(hypotheses) != len(references):
        raise UserError(
            f"bleu_stats: expected one reference per hypothesis, got {len(hypotheses)} and "
            f"{len(references)}"
        )
    rows = []
    for hyp, ref in zip(hypotheses, references, strict=True):
        h, r = _tokens(hyp, "hypothesis"), _tokens(ref, "reference")
        matches, totals = [], []
        for n in range(1, max_order + 1):
            hc, rc = ngram_counts(h, n), ngram_counts(r, n)
            matches.append(sum(min(c, rc[g]) for g, c in hc.items()))
            totals.append(max(len(h) - n + 1, 0))
        rows.append([*matches, *totals, len(h), len(r)])
    return torch.tensor(rows, dtype=torch.float64).reshape(len(rows), 2 * max_order + 2)


def bleu_from_stats(stats: torch.Tensor) -> torch.Tensor:
    """Corpus BLEU (0..100) of summed statistics [..., 2 * max_order + 2] -> [...]; 0 when
    some order has no match, as corpus_bleu."""
    order = (stats.shape[-1] - 2) // 2
    matches, totals = stats[..., :order], stats[..., order : 2 * order]
    hyp_len, ref_len = stats[..., -2], stats[..., -1]
    ok = (matches > 0).all(-1)
    log_p = torch.log(torch.where(ok.unsqueeze(-1), matches / totals.clamp(min=1), 1.0)).mean(-1)
    brevity = torch.where(hyp_len < ref_len, 1 - ref_len / hyp_len.clamp(min=1), 0.0)
    return torch.where(ok, 100 * torch.exp(log_p + brevity), 0.0)


def resample_indices(n: int, samples: int, seed: int) -> torch.Tensor:
    """int64 [samples, n]: each row n sentence indices drawn with replacement (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (samples, n), generator=gen)


@dataclass(frozen=True)
class BootstrapResult:
    bleu_a: float
    bleu_b: float
    diff: float  # bleu_b - bleu_a on the whole test set
    low: float  # the confidence interval of diff: percentiles of the resampled differences
    high: float
    p_b_not_better: float  # fraction of resamples where B does not beat A
    samples: int
    confidence: float
    sentences: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_bootstrap(
    hyps_a: Sequence[Tokens],
    hyps_b: Sequence[Tokens],
    references: Sequence[Tokens],
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 100,
) -> BootstrapResult:
    """BLEU(B) - BLEU(A) with a percentile interval over `samples` paired resamples."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise UserError(f"paired_bootstrap: samples must be an integer >= 1, got {samples!r}")
    if not 0 < confidence < 1:
        raise UserError(f"paired_bootstrap: confidence must be in (0, 1), got {confidence}")
    if len(hyps_a) != len(hyps_b) or not len(references):
        raise UserError(
            f"paired_bootstrap: expected the same non-empty test set for both systems, got "
            f"{len(hyps_a)} and {len(hyps_b)} hypotheses for {len(references)} references"
        )
    sa, sb = bleu_stats(hyps_a, references), bleu_stats(hyps_b, references)
    index = resample_indices(len(references), samples, seed)
    diffs = []
    for rows in index.split(chunk):  # [chunk, N] at a time: bounded memory
        diffs.append(bleu_from_stats(sb[rows].sum(1)) - bleu_from_stats(sa[rows].sum(1)))
    d = torch.cat(diffs)
    tail = (1 - confidence) / 2
    low, high = torch.quantile(d, torch.tensor([tail, 1 - tail], dtype=d.dtype)).tolist()
    bleu_a, bleu_b = bleu_from_stats(sa.sum(0)).item(), bleu_from_stats(sb.sum(0)).item()
    return BootstrapResult(
        bleu_a, bleu_b, bleu_b - bleu_a, low, high, (d <= 0).double().mean().item(),
        samples, confidence, len(references),
    )
