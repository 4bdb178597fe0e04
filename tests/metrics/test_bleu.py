"""BLEU: corpus BLEU equals sacrebleu (tokenize="none", no smoothing) to 1e-9 on random corpora
and edge cases; the book's sentence formula on hand-computed examples."""

from __future__ import annotations

import math
import random

import pytest
import sacrebleu

from scratchdl.errors import UserError
from scratchdl.metrics.bleu import corpus_bleu, sentence_bleu

TOL = 1e-9  # on the 0-100 scale


def sacre(hyps: list[list[str]], refs: list[list[str]]) -> float:
    return sacrebleu.corpus_bleu(
        [" ".join(h) for h in hyps],
        [[" ".join(r) for r in refs]],
        tokenize="none",
        smooth_method="none",
        force=True,
    ).score


def random_corpus(seed: int, num: int, words: int, max_len: int):
    """Hypotheses are noisy copies of their references, so most n-gram orders match."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(words)]
    refs, hyps = [], []
    for _ in range(num):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, max_len))]
        hyp = [t if rng.random() < 0.7 else rng.choice(vocab) for t in ref]
        hyp = hyp[: rng.randint(0, len(hyp) + 1)] + [rng.choice(vocab)] * rng.randint(0, 2)
        refs.append(ref)
        hyps.append(hyp)
    return hyps, refs


@pytest.mark.parametrize("seed", range(12))
def test_corpus_bleu_matches_sacrebleu(seed: int) -> None:
    hyps, refs = random_corpus(seed, num=1 + 7 * seed, words=5 + seed, max_len=4 + 2 * seed)
    ours, twin = corpus_bleu(hyps, refs), sacre(hyps, refs)
    assert abs(ours - twin) < TOL, (ours, twin)


def test_random_corpora_are_not_all_zero() -> None:
    # the comparison above would be weak if sacrebleu said 0 everywhere
    scores = [sacre(*random_corpus(s, 1 + 7 * s, 5 + s, 4 + 2 * s)) for s in range(12)]
    assert sum(s > 1 for s in scores) >= 8


# name: (hypotheses, references), whitespace-separated tokens
EDGE_CASES = {
    "empty hypothesis in a corpus": (["", "a b c d e"], ["a b", "a b c d e"]),
    "all hypotheses empty": (["", ""], ["a", "b c"]),
    "zero matches": (["x y z q"], ["a b c d"]),
    "no 4-gram matches": (["a b c x d"], ["a b c d e"]),
    "hypothesis shorter than 4": (["a b c"], ["a b c"]),
    "hypothesis longer than reference": (["a b c d e f a"], ["a b c d e"]),
    "perfect": (["a b c d e"], ["a b c d e"]),
    "clipping": (["the the the the the the cat sat on mat"], ["the cat sat on the mat"]),
    "brevity": (["a b c d"], ["a b c d e f g h"]),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_corpus_bleu_edge_cases_match_sacrebleu(name: str) -> None:
    hyps, refs = ([line.split() for line in side] for side in EDGE_CASES[name])
    assert abs(corpus_bleu(hyps, refs) - sacre(hyps, refs)) < TOL


def test_corpus_bleu_hand_values() -> None:
    assert corpus_bleu([["a", "b", "c", "d", "e"]], [["a", "b", "c", "d", "e"]]) == 100.0
    assert corpus_bleu([["x", "y", "z", "q"]], [["a", "b", "c", "d"]]) == 0.0
    # perfect prefix of half the reference: all precisions 1, BP = exp(1 - 8/4)
    brevity = corpus_bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d", "e", "f", "g", "h"]])
    assert brevity == pytest.approx(100 * math.exp(-1), abs=1e-12)


def test_corpus_bleu_accepts_strings() -> None:
    hyps, refs = random_corpus(3, 20, 6, 10)
    as_strings = corpus_bleu([" ".join(h) for h in hyps], [" ".join(r) for r in refs])
    assert as_strings == corpus_bleu(hyps, refs)


def test_sentence_bleu_hand_examples() -> None:
    # p1 = 3/4 (a, b, d match), p2 = 1/3 (only "a b"), equal lengths: BP = 1
    assert sentence_bleu("a b c d", "a b e d", k=2) == pytest.approx(
        (3 / 4) ** 0.5 * (1 / 3) ** 0.25, abs=1e-15
    )
    # a perfect half: precisions 1, BP = exp(1 - 4/2)
    assert sentence_bleu(["a", "b"], ["a", "b", "c", "d"], k=2) == pytest.approx(
        math.exp(-1), abs=1e-15
    )
    # clipping: "the" counted at most once; longer prediction: no brevity penalty
    assert sentence_bleu("the the the", "the cat", k=1) == pytest.approx((1 / 3) ** 0.5)
    # the book's examples: exact translations score 1
    assert sentence_bleu("va !", "va !", k=2) == 1.0
    assert sentence_bleu("il est calme .", "il est calme .", k=2) == 1.0
    # k = 3 with a trigram mismatch: p1 = 1, p2 = 2/3, p3 = 1/2
    assert sentence_bleu("a b c d", "a b c a b d", k=3) == pytest.approx(
        math.exp(1 - 6 / 4) * (2 / 3) ** 0.25 * (1 / 2) ** 0.125, abs=1e-15
    )


def test_sentence_bleu_edge_cases() -> None:
    assert sentence_bleu([], ["a", "b"], k=2) == 0.0  # empty prediction
    assert sentence_bleu(["a"], ["a", "b"], k=2) == 0.0  # no bigram to score
    assert sentence_bleu(["x", "y"], ["a", "b"], k=2) == 0.0  # zero matches
    assert sentence_bleu(["a"], ["a"], k=1) == 1.0  # batch of one token


def test_bad_input() -> None:
    with pytest.raises(UserError, match="one reference per hypothesis"):
        corpus_bleu([["a"]], [["a"], ["b"]])
    with pytest.raises(UserError, match="max_order"):
        corpus_bleu([["a"]], [["a"]], max_order=0)
    with pytest.raises(UserError, match="k must be"):
        sentence_bleu("a", "a", k=0)
    with pytest.raises(UserError, match="token list or a string"):
        sentence_bleu(3, "a")
