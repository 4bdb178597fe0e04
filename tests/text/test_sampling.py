"""Top-k and top-p (nucleus) filtering of scratchdl.text.decoding, against hand computations
and brute force: top-k keeps exactly k tokens, top-p keeps the smallest most-likely set whose
probability reaches p, and sampling frequencies follow the renormalised kept distribution."""

from __future__ import annotations

import math

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.text.decoding import filter_logits, generate, next_token


def _smallest_nucleus(probs: list[float], p: float) -> set[int]:
    """Brute force: the smallest set of tokens with total probability >= p, most likely first
    (distinct probabilities, so it is unique)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    for size in range(1, len(probs) + 1):
        if sum(probs[i] for i in order[:size]) >= p - 1e-12:
            return set(order[:size])
    return set(order)


@pytest.mark.parametrize("k", [1, 2, 5, 9, 10])
def test_top_k_keeps_exactly_k(k: int) -> None:
    logits = torch.randn(7, 10, generator=torch.Generator().manual_seed(k))
    kept = torch.isfinite(filter_logits(logits, top_k=k))
    assert kept.sum(1).tolist() == [k] * 7
    for row, keep in zip(logits, kept, strict=True):
        assert set(keep.nonzero().flatten().tolist()) == set(row.topk(k).indices.tolist())


def test_top_k_zero_and_top_p_one_keep_everything() -> None:
    logits = torch.randn(3, 6)
    assert torch.equal(filter_logits(logits, 0, 1.0), logits)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.75, 0.9, 0.99])
def test_top_p_keeps_the_smallest_set_reaching_p(p: float) -> None:
    g = torch.Generator().manual_seed(int(p * 100))
    logits = 2 * torch.randn(20, 12, generator=g, dtype=torch.float64)
    kept = torch.isfinite(filter_logits(logits, top_p=p))
    for row, keep in zip(logits, kept, strict=True):
        probs = torch.softmax(row, 0).tolist()
        chosen = set(keep.nonzero().flatten().tolist())
        assert chosen == _smallest_nucleus(probs, p)
        mass = sum(probs[i] for i in chosen)
        assert mass >= p - 1e-12  # reaches p ...
        assert mass - min(probs[i] for i in chosen) < p  # ... and no smaller set would


def test_top_p_hand_example() -> None:
    # probabilities 0.5, 0.3, 0.15, 0.05: p=0.5 keeps {0}; 0.6 keeps {0,1}; 0.79 keeps {0,1};
    # 0.81 keeps {0,1,2}
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    cases = [(0.5, {0}), (0.6, {0, 1}), (0.79, {0, 1}), (0.81, {0, 1, 2}), (1.0, {0, 1, 2, 3})]
    for p, want in cases:
        kept = torch.isfinite(filter_logits(logits, top_p=p))[0]
        assert set(kept.nonzero().flatten().tolist()) == want, p


def test_top_k_then_top_p() -> None:
    # top-k=3 leaves 0.5, 0.3, 0.15 -> renormalised 0.526, 0.316, 0.158: p=0.8 keeps {0, 1}
    # (0.842), while top-p alone at 0.8 keeps {0, 1} too; p=0.85 needs all three of the top-k
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    kept = torch.isfinite(filter_logits(logits, top_k=3, top_p=0.85))[0]
    assert kept.tolist() == [True, True, True, False]
    kept = torch.isfinite(filter_logits(logits, top_k=2, top_p=0.99))[0]
    assert kept.tolist() == [True, True, False, False]


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 0.7), (0.5, 0.9), (2.0, 0.5)])
def test_top_p_sample_frequencies(temperature: float, top_p: float) -> None:
    logits = torch.tensor([[1.0, 0.2, -0.5, 2.0, 0.0, -1.0]])
    n = 40_000
    draws = next_token(
        logits.expand(n, -1), "sample", temperature, 0, torch.Generator().manual_seed(0), top_p
    )
    freq = torch.bincount(draws, minlength=6).double() / n
    probs = torch.softmax(logits[0].double() / temperature, 0)
    keep = torch.zeros(6, dtype=torch.bool)
    keep[list(_smallest_nucleus(probs.tolist(), top_p))] = True
    expected = torch.where(keep, probs, 0.0)
    expected /= expected.sum()
    assert (freq - expected).abs().max() < 5 * math.sqrt(0.25 / n)
    assert (freq[~keep] == 0).all()


def test_tiny_top_p_is_greedy() -> None:
    def step(tokens: torch.Tensor, state):
        g = torch.Generator().manual_seed(int(tokens[0]) + (0 if state is None else state))
        return torch.randn(1, 9, generator=g), (0 if state is None else state) + 1

    greedy = generate(step, [1], 15)
    nucleus = generate(step, [1], 15, strategy="sample", top_p=1e-6,
                       generator=torch.Generator().manual_seed(3))
    assert nucleus == greedy


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.5, float("nan")])
def test_bad_top_p(top_p: float) -> None:
    with pytest.raises(UserError, match=r"top_p must be in \(0, 1\]"):
        generate(lambda t, s: (torch.zeros(1, 3), s), [0], 2, strategy="sample", top_p=top_p)
