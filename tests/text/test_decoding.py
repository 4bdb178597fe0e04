"""Decoding: greedy/sampling/beam search on tiny random GRU and LSTM language models.

Proofs: batched beam search == a one-hypothesis-at-a-time reference that rescores every
hypothesis from scratch (on a hash-table model where any state mix-up changes the scores);
beam 1 == greedy; a beam of width V**(L-1) finds the best of all V**L sequences
(checked by enumerating them, with and without eos and length penalty); temperature -> 0
and top_k = 1 sampling == greedy; sampling frequencies match softmax(logits / T) (top-k
renormalised); cached state and full recomputation give the same tokens.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.text.decoding import (
    beam_search,
    generate,
    map_state,
    next_token,
    recompute_step,
)


class TinyLM(nn.Module):
    """embedding -> GRU or LSTM -> linear, float64 so batched and single runs agree."""

    def __init__(self, vocab: int, cell: str = "gru", hidden: int = 8, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, 6, dtype=torch.float64)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(6, hidden, num_layers=2, dtype=torch.float64)
        self.out = nn.Linear(hidden, vocab, dtype=torch.float64)
        with torch.no_grad():
            self.out.weight.mul_(4)  # peaked distributions, like a trained model

    def step(self, tokens: torch.Tensor, state):
        """tokens [B] -> logits [B, V]; state [layers, B, H] (GRU) or a tuple of two (LSTM)."""
        output, state = self.rnn(self.embed(tokens)[None], state)
        return self.out(output[0]), state

    def step_full(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, T] -> logits of the last position [B, V], no cached state."""
        output, _ = self.rnn(self.embed(ids).transpose(0, 1))
        return self.out(output[-1])


class HashLM:
    """Logits from a random table indexed by a hash of the whole history, so any mix-up
    of beam states changes the scores. State: (code [1, B], (code [1, B],)), nested on
    purpose; the step checks that both copies were reordered alike."""

    def __init__(self, vocab: int, seed: int, size: int = 4099) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = 2 * torch.randn(size, vocab, generator=g, dtype=torch.float64)
        self.size = size

    def step(self, tokens: torch.Tensor, state):
        code = torch.zeros(1, len(tokens), dtype=torch.long) if state is None else state[0]
        assert state is None or torch.equal(state[1][0], code)
        code = (code * 31 + tokens[None] + 1) % self.size
        return self.table[code[0]], (code, (code.clone(),))

    def step_full(self, ids: torch.Tensor) -> torch.Tensor:
        code = torch.zeros(ids.shape[0], dtype=torch.long)
        for t in range(ids.shape[1]):
            code = (code * 31 + ids[:, t] + 1) % self.size
        return self.table[code]


def continuation_log_probs(model: TinyLM, prefix: list[int], eos: int | None, length: int):
    """Every finished continuation of up to `length` tokens with its log P, by enumeration.

    A continuation ends at eos (scored, then dropped) or at `length` tokens without eos.
    """
    with torch.no_grad():
        logits, state = None, None
        for tok in prefix:
            logits, state = model.step(torch.tensor([tok]), state)
        results = []

        def walk(tokens: list[int], logp: float, logits, state) -> None:
            logps = torch.log_softmax(logits[0], dim=-1)
            for w in range(logps.shape[0]):
                total = logp + float(logps[w])
                if w == eos:
                    results.append((tokens, total, len(tokens) + 1))
                elif len(tokens) + 1 == length:
                    results.append((tokens + [w], total, length))
                else:
                    nxt, nxt_state = model.step(torch.tensor([w]), state)
                    walk(tokens + [w], total, nxt, nxt_state)

        walk([], 0.0, logits, state)
    return results


def reference_beam(
    model: TinyLM | HashLM,
    prefix: list[int],
    length: int,
    beam_size: int,
    eos: int | None,
    alpha: float,
) -> list[int]:
    """Beam search the plain way: one hypothesis at a time, each scored from scratch."""
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[float, list[int]]] = []
    with torch.no_grad():
        for t in range(1, length + 1):
            candidates = []
            for tokens, score in beams:
                logits = model.step_full(torch.tensor([prefix + tokens]))
                logps = torch.log_softmax(logits[0], dim=-1).tolist()
                for w, logp in enumerate(logps):
                    if w == eos:
                        finished.append(((score + logp) / t**alpha, tokens))
                    else:
                        candidates.append((tokens + [w], score + logp))
            beams = sorted(candidates, key=lambda c: -c[1])[:beam_size]
    finished += [(score / length**alpha, tokens) for tokens, score in beams]
    return max(finished, key=lambda f: f[0])[1]


@pytest.mark.parametrize("kind", ["hash", "gru", "lstm"])
def test_beam_search_matches_one_at_a_time_reference(kind: str) -> None:
    # batched beams with reordered states == hypotheses rescored from scratch one by one
    cases = [
        (0, 2, None, 0.0),
        (1, 3, 2, 0.0),
        (2, 4, 2, 0.75),
        (3, 3, 0, 1.0),
        (4, 5, None, 0.0),
        (5, 3, None, 0.0),
        (6, 4, 1, 0.75),
        (7, 2, 4, 0.5),
    ]
    for seed, beam_size, eos, alpha in cases:
        model = HashLM(5, seed) if kind == "hash" else TinyLM(5, kind, seed=seed)
        prefix = [1, 3, seed % 5]
        expected = reference_beam(model, prefix, 6, beam_size, eos, alpha)
        found = beam_search(model.step, prefix, 6, beam_size, eos=eos, length_penalty=alpha)
        assert found == expected, (seed, beam_size, eos, alpha)


def test_beam_of_one_is_greedy() -> None:
    for seed in range(4):
        model = TinyLM(7, "gru" if seed % 2 else "lstm", seed=seed)
        prefix = [seed, 1, 2]
        greedy = generate(model.step, prefix, 12)
        assert beam_search(model.step, prefix, 12, beam_size=1) == greedy
        assert len(greedy) == 12


@pytest.mark.parametrize("seed", range(3))
def test_wide_beam_is_exact(seed: int) -> None:
    V, L = 4, 4
    model = TinyLM(V, seed=seed)
    prefix = [1, 2]
    candidates = continuation_log_probs(model, prefix, eos=None, length=L)
    assert len(candidates) == V**L
    best_tokens, best_logp, _ = max(candidates, key=lambda c: c[1])
    found = beam_search(model.step, prefix, L, beam_size=V ** (L - 1))
    assert found == best_tokens
    # a narrow beam may miss it; at least check it scores no better than the optimum
    narrow = beam_search(model.step, prefix, L, beam_size=2)
    logp = {tuple(t): lp for t, lp, _ in candidates}
    assert logp[tuple(narrow)] <= best_logp + 1e-12


def test_exactness_test_is_not_trivial() -> None:
    # on some of these models greedy is not optimal, so the exactness test can fail
    misses = 0
    for seed in range(3):
        model = TinyLM(4, seed=seed)
        candidates = continuation_log_probs(model, [1, 2], eos=None, length=4)
        misses += generate(model.step, [1, 2], 4) != max(candidates, key=lambda c: c[1])[0]
    assert misses >= 1


@pytest.mark.parametrize("alpha", [0.0, 0.75, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_wide_beam_with_eos_and_length_penalty_is_exact(seed: int, alpha: float) -> None:
    V, L, eos = 4, 4, 3
    model = TinyLM(V, seed=11 + seed)
    candidates = continuation_log_probs(model, [0], eos=eos, length=L)
    assert len(candidates) == sum((V - 1) ** t for t in range(L)) + (V - 1) ** L
    best = max(candidates, key=lambda c: c[1] / c[2] ** alpha)
    found = beam_search(model.step, [0], L, beam_size=V ** (L - 1), eos=eos, length_penalty=alpha)
    assert found == best[0]
    assert eos not in found


def test_length_penalty_changes_the_choice() -> None:
    # so that the parametrised test above really exercises the normalisation
    changed = 0
    for seed in range(3):
        model = TinyLM(4, seed=11 + seed)
        runs = [beam_search(model.step, [0], 4, 64, eos=3, length_penalty=a) for a in (0, 1)]
        changed += runs[0] != runs[1]
    assert changed >= 1


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cached_state_equals_recomputation(cell: str) -> None:
    model = TinyLM(6, cell, seed=3)
    full = recompute_step(model.step_full)
    prefix = [0, 4, 2, 5]
    assert generate(model.step, prefix, 15) == generate(full, prefix, 15)
    # beams reorder the GRU state / LSTM (h, c) and the token history alike
    for eos in (None, 1):
        cached = beam_search(model.step, prefix, 10, beam_size=4, eos=eos, length_penalty=0.6)
        recomputed = beam_search(full, prefix, 10, beam_size=4, eos=eos, length_penalty=0.6)
        assert cached == recomputed
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sampled = generate(model.step, prefix, 15, strategy="sample", generator=g1)
    assert sampled == generate(full, prefix, 15, strategy="sample", generator=g2)


def test_warm_up_on_prefix() -> None:
    model = TinyLM(6, "lstm", seed=4)
    prefix = [3, 1, 4, 1]
    _, state = model.step(torch.tensor([3]), None)
    _, state = model.step(torch.tensor([1]), state)
    _, state = model.step(torch.tensor([4]), state)
    assert generate(model.step, [1], 8, state=state) == generate(model.step, prefix, 8)


def test_cold_temperature_and_top1_sampling_are_greedy() -> None:
    for seed in range(3):
        model = TinyLM(8, seed=seed)
        greedy = generate(model.step, [1, 2], 20)
        g = torch.Generator().manual_seed(seed)
        cold = generate(model.step, [1, 2], 20, strategy="sample", temperature=1e-6, generator=g)
        top1 = generate(model.step, [1, 2], 20, strategy="sample", top_k=1, generator=g)
        assert cold == greedy and top1 == greedy


def test_sampling_is_reproducible_and_random() -> None:
    model = TinyLM(8, seed=1)
    with torch.no_grad():
        model.out.weight.div_(4)  # flatter distribution: samples vary

    def draw(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return generate(model.step, [0], 30, strategy="sample", temperature=1.5, generator=g)

    assert draw(0) == draw(0)
    assert draw(0) != draw(1)


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, 0), (0.5, 0), (2.0, 3), (1.0, 6)])
def test_sample_frequencies_match_softmax(temperature: float, top_k: int) -> None:
    logits = torch.tensor([[1.0, 0.2, -0.5, 2.0, 0.0, -1.0]])
    n = 40_000
    draws = next_token(
        logits.expand(n, -1), "sample", temperature, top_k, torch.Generator().manual_seed(0)
    )
    freq = torch.bincount(draws, minlength=6).double() / n
    scaled = logits[0].double() / temperature
    if top_k:
        scaled[scaled < scaled.topk(top_k).values[-1]] = -math.inf
    expected = torch.softmax(scaled, dim=0)
    # 5 standard errors of a frequency estimated from n draws
    assert (freq - expected).abs().max() < 5 * math.sqrt(0.25 / n)
    assert (freq[expected == 0] == 0).all()


def test_generation_stops_at_eos() -> None:
    # a counting model: emits 0, 1, 2, ... and eos (= 5) once it has emitted three tokens
    def step(tokens: torch.Tensor, state):
        count = torch.zeros(1, tokens.shape[0]) if state is None else state + 1
        logits = torch.full((tokens.shape[0], 6), -5.0)
        target = torch.where(count[0] >= 3, 5, count[0].long())
        logits[torch.arange(tokens.shape[0]), target] = 5.0
        return logits, count

    assert generate(step, [4], 10, eos=5) == [0, 1, 2]
    assert generate(step, [4], 10) == [0, 1, 2, 5, 5, 5, 5, 5, 5, 5]
    assert beam_search(step, [4], 10, beam_size=3, eos=5) == [0, 1, 2]
    assert beam_search(step, [4], 2, beam_size=3, eos=5) == [0, 1]  # length limit


def test_zero_tokens_and_tensor_prefix() -> None:
    model = TinyLM(5)
    assert generate(model.step, [1], 0) == [] and beam_search(model.step, [1], 0, 3) == []
    assert generate(model.step, torch.tensor([1, 2]), 5) == generate(model.step, [1, 2], 5)


def test_map_state_nested() -> None:
    state = (torch.arange(6).view(1, 3, 2), [torch.arange(3).view(1, 3)])
    moved = map_state(state, lambda s: s.index_select(1, torch.tensor([2, 2, 0])))
    assert moved[0][0, :, 0].tolist() == [4, 4, 0] and moved[1][0].tolist() == [[2, 2, 0]]
    assert map_state(None, lambda s: s) is None
    with pytest.raises(UserError, match="state"):
        map_state({"h": torch.zeros(1)}, lambda s: s)


def test_bad_input() -> None:
    model = TinyLM(5)
    with pytest.raises(UserError, match="beam_size"):
        beam_search(model.step, [1], 5, beam_size=0)
    for bad in (generate, lambda *a: beam_search(*a, beam_size=2)):
        with pytest.raises(UserError, match="num_tokens"):
            bad(model.step, [1], -1)
        with pytest.raises(UserError, match="prefix is empty"):
            bad(model.step, [], 3)
    for temperature in (0.0, -1.0):
        with pytest.raises(UserError, match="temperature"):
            generate(model.step, [1], 3, strategy="sample", temperature=temperature)
    with pytest.raises(UserError, match="strategy"):
        generate(model.step, [1], 3, strategy="nucleus")
    with pytest.raises(UserError, match="top_k"):
        generate(model.step, [1], 3, strategy="sample", top_k=-1)
    with pytest.raises(UserError, match="length_penalty"):
        beam_search(model.step, [1], 3, beam_size=2, length_penalty=-1.0)
    with pytest.raises(UserError, match="eos"):
        beam_search(model.step, [1], 3, beam_size=2, eos=9)
    with pytest.raises(UserError, match=r"\[batch=1, vocab\]"):
        generate(lambda t, s: (torch.zeros(5), s), [1], 3)  # 1-D logits
    with pytest.raises(UserError, match="1-D"):
        generate(model.step, torch.zeros(2, 2, dtype=torch.long), 3)


def test_enumeration_helper_counts() -> None:
    # the brute force used above really lists every sequence once
    model = TinyLM(3)
    seqs = [tuple(t) for t, _, _ in continuation_log_probs(model, [0], None, 3)]
    assert sorted(seqs) == sorted(itertools.product(range(3), repeat=3))
    total = sum(math.exp(lp) for _, lp, _ in continuation_log_probs(model, [0], 2, 3))
    assert total == pytest.approx(1.0, abs=1e-12)  # finished continuations partition P
