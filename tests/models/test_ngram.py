"""n-gram LM: distributions sum to one, hand-computed Kneser-Ney, an independent reference
implementation (plain Python Counters), add-k closed forms, perplexity, serialisation."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.models.text.ngram import NGramLM
from scratchdl.text.tokens.vocab import Vocab

TOL = 1e-12  # float64 sums of a few dozen terms


def random_ids(n: int, high: int, seed: int) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=torch.Generator().manual_seed(seed))


def markov_text(n: int, vocab_size: int, seed: int) -> torch.Tensor:
    """Tokens from a sparse random first-order Markov chain (so bigrams carry information)."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(vocab_size, vocab_size, generator=g), dim=1)
    out = [0]
    for _ in range(n - 1):
        out.append(int(torch.multinomial(probs[out[-1]], 1, generator=g)))
    return torch.tensor(out)


CONTEXTS = [
    [],  # empty
    [1],  # seen, shorter than the order
    [1, 2, 0, 3],  # longer than the order
    [5, 5, 5],  # id 5 is in the vocabulary but never seen in training
    [1, 9],  # 9 is outside the vocabulary
    [-2, 1],  # negative id
    [0, 1, 2],
]


@pytest.mark.parametrize("smoothing", ["kn", "addk"])
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_distribution_sums_to_one(smoothing: str, order: int) -> None:
    ids = random_ids(400, 5, seed=order)  # ids 0..4; vocabulary 6, so 5 is never seen
    lm = NGramLM(order, smoothing, k=0.3).fit(ids, vocab_size=6)
    contexts = CONTEXTS + [ids[i : i + order - 1].tolist() for i in range(0, 300, 37)]
    for context in contexts:
        p = lm.prob(context)
        assert p.shape == (6,) and p.dtype == torch.float64
        assert (p > 0).all(), context
        assert abs(float(p.sum()) - 1) < TOL, (context, float(p.sum()))


def test_kn_hand_example() -> None:
    # corpus a b a b c a with a,b,c,d = 0,1,2,3 (d never seen), bigram model, D = 0.5
    lm = NGramLM(2, "kn", discount=0.5).fit([0, 1, 0, 1, 2, 0], vocab_size=4)
    # unigram continuation counts: a has left neighbours {b, c}, b {a}, c {b}: total 4, types 3
    # P1(w) = max(N1+(. w) - 0.5, 0) / 4 + 0.5 * 3/4 * 1/4
    f64 = torch.float64
    p1 = torch.tensor([1.5 / 4 + 3 / 32, 0.5 / 4 + 3 / 32, 0.5 / 4 + 3 / 32, 3 / 32], dtype=f64)
    # P(w | a): c(a b) = 2 is all of c(a .) = 2, one type
    expected_a = 0.5 * 1 / 2 * p1 + torch.tensor([0, 1.5 / 2, 0, 0], dtype=f64)
    # P(w | b): c(b a) = c(b c) = 1, two types
    expected_b = 0.5 * 2 / 2 * p1 + torch.tensor([0.5 / 2, 0, 0.5 / 2, 0], dtype=f64)
    torch.testing.assert_close(lm.prob([0]), expected_a, atol=1e-15, rtol=0)
    torch.testing.assert_close(lm.prob([1]), expected_b, atol=1e-15, rtol=0)
    torch.testing.assert_close(lm.prob([3]), p1, atol=1e-15, rtol=0)  # unseen context
    # empty history: raw unigram counts a:3 b:2 c:1 (6 tokens, 3 types), interpolated
    expected_start = torch.tensor([2.5, 1.5, 0.5, 0], dtype=f64) / 6 + 0.5 * 3 / 6 / 4
    torch.testing.assert_close(lm.prob([]), expected_start, atol=1e-15, rtol=0)
    expected_logp = math.log(expected_start[0]) + math.log(expected_a[1]) + math.log(expected_b[2])
    assert abs(lm.log_prob_sequence([0, 1, 2]) - expected_logp) < 1e-12


def test_estimated_discounts_hand() -> None:
    lm = NGramLM(2).fit([0, 1, 0, 1, 2, 0], vocab_size=4)
    # order 1 (continuation counts 2,1,1): n1=2, n2=1 -> 2/4; order 2 (raw 2,1,1,1): 3/5
    assert lm.discounts == pytest.approx([0.5, 0.6], abs=1e-15)


def reference_kn(tokens: list[int], order: int, vocab_size: int, discounts: list[float]):
    """Interpolated KN written the slow, obvious way, for comparison."""
    raw = [Counter() for _ in range(order + 1)]
    for n in range(1, order + 1):
        raw[n].update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    cont = [Counter() for _ in range(order + 1)]
    for n in range(1, order):
        cont[n].update(gram[1:] for gram in raw[n + 1])  # one per distinct left neighbour

    def prob(w: int, history: tuple, top: bool) -> float:
        n = len(history) + 1
        lower = prob(w, history[1:], False) if history else 1 / vocab_size
        counts = raw[n] if top or n == order else cont[n]
        ext = [counts[history + (x,)] for x in range(vocab_size)]
        total, types = sum(ext), sum(c > 0 for c in ext)
        if total == 0:
            return lower
        d = discounts[n - 1]
        return max(ext[w] - d, 0) / total + d * types / total * lower

    def distribution(context: list[int]) -> torch.Tensor:
        history = tuple(context[max(len(context) - (order - 1), 0) :]) if order > 1 else ()
        probs = [prob(w, history, True) for w in range(vocab_size)]
        return torch.tensor(probs, dtype=torch.float64)

    return distribution


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kn_matches_reference_implementation(order: int) -> None:
    ids = markov_text(300, 5, seed=order)
    discounts = [0.3, 0.75, 0.6, 0.9][:order]
    lm = NGramLM(order, discount=discounts).fit(ids, vocab_size=6)
    reference = reference_kn(ids.tolist(), order, 6, discounts)
    for context in CONTEXTS + [ids[i : i + 5].tolist() for i in range(0, 290, 23)]:
        torch.testing.assert_close(lm.prob(context), reference(context), atol=TOL, rtol=0)


@pytest.mark.parametrize("smoothing", ["kn", "addk"])
def test_log_prob_sequence_is_chain_rule_of_prob(smoothing: str) -> None:
    lm = NGramLM(3, smoothing, k=0.5).fit(markov_text(500, 6, seed=1), vocab_size=7)
    seq = random_ids(30, 7, seed=2)  # includes id 6, never seen
    chain = sum(math.log(lm.prob(seq[:j])[seq[j]]) for j in range(len(seq)))
    assert abs(lm.log_prob_sequence(seq) - chain) < 1e-9
    assert lm.perplexity(seq) == pytest.approx(math.exp(-chain / len(seq)), rel=1e-12)


def test_perplexity_below_uniform_and_falls_with_order() -> None:
    text = markov_text(6000, 8, seed=3)
    train, held_out = text[:5000], text[5000:]
    ppl = {n: NGramLM(n).fit(train, 8).perplexity(held_out) for n in (1, 2, 3)}
    assert NGramLM(2).fit(train, 8).perplexity(train) < ppl[2] < ppl[1] < 8  # uniform: 8
    assert ppl[3] < ppl[1]


def test_addk_order1_closed_form() -> None:
    ids = random_ids(200, 5, seed=4)
    k, V = 0.7, 7
    lm = NGramLM(1, "addk", k=k).fit(ids, V)
    counts = torch.bincount(ids, minlength=V).double()
    expected = (counts + k) / (len(ids) + k * V)
    torch.testing.assert_close(lm.prob([3, 1]), expected, atol=1e-15, rtol=0)


def test_addk_bigram_closed_form() -> None:
    ids = [0, 1, 1, 2, 0, 1, 3]
    lm = NGramLM(2, "addk", k=1.0).fit(ids, 5)
    # after 1: 1->1, 1->2, 1->3 (c(1 .) = 3)
    expected = (torch.tensor([0, 1, 1, 1, 0], dtype=torch.float64) + 1.0) / (3 + 5)
    torch.testing.assert_close(lm.prob([1]), expected, atol=1e-15, rtol=0)
    torch.testing.assert_close(lm.prob([4]), torch.full((5,), 0.2, dtype=torch.float64))  # unseen


def test_corpus_shorter_than_order() -> None:
    lm = NGramLM(5).fit([2, 1], vocab_size=3)
    for context in ([], [2], [2, 1], [1, 2, 1, 2]):
        assert abs(float(lm.prob(context).sum()) - 1) < TOL
    assert math.isfinite(lm.perplexity([0, 1, 2, 2]))


def test_char_model_with_vocab() -> None:
    text = "the cat sat on the mat. the rat sat on the cat. " * 20
    vocab = Vocab(list(text))
    lm = NGramLM(4).fit(vocab.encode(list(text)), len(vocab))
    p = lm.prob(vocab.encode(list("the ")))
    assert abs(float(p.sum()) - 1) < TOL
    assert vocab.idx_to_token[int(p[1:].argmax()) + 1] in "cmr"  # a seen continuation
    assert lm.perplexity(vocab.encode(list("the cat sat on the mat."))) < 2


def test_roundtrip_through_weights_only_checkpoint(tmp_path) -> None:
    ids = markov_text(400, 6, seed=5)
    for lm in (
        NGramLM(3).fit(ids, 6),
        NGramLM(2, "addk", k=0.2).fit(ids, 6),
        NGramLM(3, discount=[0.5, 0.6, 0.7]).fit(ids, 6),
    ):
        torch.save(lm.to_dict(), tmp_path / "lm.pt")
        back = NGramLM.from_dict(torch.load(tmp_path / "lm.pt", weights_only=True))
        assert back.perplexity(ids[:50]) == lm.perplexity(ids[:50])
        assert torch.equal(back.prob([1, 2]), lm.prob([1, 2]))


def test_bad_input() -> None:
    with pytest.raises(UserError, match="order"):
        NGramLM(0)
    with pytest.raises(UserError, match="smoothing"):
        NGramLM(2, "witten-bell")
    with pytest.raises(UserError, match="k > 0"):
        NGramLM(2, "addk", k=0)
    with pytest.raises(UserError, match="discount"):
        NGramLM(2, discount=1.5)
    with pytest.raises(UserError, match="discount"):
        NGramLM(2, discount=[0.5])
    with pytest.raises(UserError, match="not fitted"):
        NGramLM(2).prob([0])
    with pytest.raises(UserError, match=r"\[0, 3\)"):
        NGramLM(2).fit([0, 1, 3], vocab_size=3)
    with pytest.raises(UserError, match="empty"):
        NGramLM(2).fit([], vocab_size=3)
    with pytest.raises(UserError, match="1-D"):
        NGramLM(2).fit(torch.zeros(2, 3, dtype=torch.long), vocab_size=3)
    with pytest.raises(UserError, match="integer"):
        NGramLM(2).fit(torch.zeros(3), vocab_size=3)
    lm = NGramLM(2).fit([0, 1, 2], vocab_size=3)
    with pytest.raises(UserError, match="empty"):
        lm.perplexity([])
    with pytest.raises(UserError, match="<unk>"):
        lm.perplexity([0, 7])
    with pytest.raises(UserError, match="format"):
        NGramLM.from_dict({"order": 2})
