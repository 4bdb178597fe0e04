"""BLEU: the book's sentence formula and standard corpus BLEU (Papineni et al. 2002).

Both take token lists (any hashable tokens) or strings, which are split on whitespace.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

from scratchdl.errors import UserError

Tokens = str | Sequence[Hashable]


def _tokens(x: Tokens, name: str) -> list:
    if isinstance(x, str):
        return x.split()
    if not isinstance(x, Sequence):
        raise UserError(f"{name}: expected a token list or a string, got {type(x).__name__}")
    return list(x)


def ngram_counts(tokens: Sequence[Hashable], n: int) -> Counter:
    """Counter of the n-grams (as tuples) of a token list."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu(pred: Tokens, label: Tokens, k: int = 2) -> float:
    """The book's BLEU of one prediction against one label, in [0, 1].

    exp(min(0, 1 - len_label / len_pred)) * prod_{n=1..k} p_n ** (1 / 2**n), where p_n is
    the clipped n-gram precision of the prediction. Longer n-grams get larger weights
    (p_n ** (1/2**n) is closer to 1 the larger n), so matching them matters more.
    An empty prediction, or one shorter than k tokens (p_n undefined), scores 0.
    """
    if k < 1:
        raise UserError(f"sentence_bleu: k must be >= 1, got {k}")
    pred_tokens, label_tokens = _tokens(pred, "sentence_bleu pred"), _tokens(label, "label")
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    if len_pred < k:
        return 0.0
    score = math.exp(min(0.0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        label_counts = ngram_counts(label_tokens, n)
        pred_counts = ngram_counts(pred_tokens, n)
        matches = sum(min(c, label_counts[g]) for g, c in pred_counts.items())
        score *= (matches / (len_pred - n + 1)) ** (0.5**n)
    return score


def corpus_bleu(
    hypotheses: Sequence[Tokens], references: Sequence[Tokens], max_order: int = 4
) -> float:
    """Standard corpus BLEU in [0, 100], one reference per hypothesis, no smoothing.

    Clipped n-gram matches and hypothesis n-gram totals are summed over the corpus for
    n = 1..max_order; score = BP * exp(mean_n log(matches_n / totals_n)) * 100 with
    BP = exp(1 - r / c) if c < r else 1 (c, r: total hypothesis and reference lengths).
    Any order with no match (or no hypothesis n-gram at all) gives 0, like sacrebleu's
    corpus_bleu(..., tokenize="none", smooth_method="none").
    """
    if len(hypotheses) != len(references):
        raise UserError(
            f"corpus_bleu: expected one reference per hypothesis, got {len(hypotheses)} "
            f"hypotheses and {len(references)} references"
        )
    if max_order < 1:
        raise UserError(f"corpus_bleu: max_order must be >= 1, got {max_order}")
    matches, totals = [0] * max_order, [0] * max_order
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp_tokens, ref_tokens = _tokens(hyp, "corpus_bleu hypothesis"), _tokens(ref, "reference")
        hyp_len += len(hyp_tokens)
        ref_len += len(ref_tokens)
        for n in range(1, max_order + 1):
            hyp_counts, ref_counts = ngram_counts(hyp_tokens, n), ngram_counts(ref_tokens, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(len(hyp_tokens) - n + 1, 0)
    if min(matches) == 0:  # log 0: the geometric mean is 0 (totals == 0 implies matches == 0)
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True))
    brevity = math.exp(1 - ref_len / hyp_len) if hyp_len < ref_len else 1.0
    return 100.0 * brevity * math.exp(log_precision / max_order)
