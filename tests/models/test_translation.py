"""Bahdanau GRU and Transformer translators: attention equals the nn twin, decoding step by
step (KV cache, carried attention state) equals teacher forcing, beam search enumerates."""

from __future__ import annotations

import itertools

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.models import build_model
from scratchdl.models.text.seq2seq import (
    beam_translate,
    greedy_decode,
    select_state,
    teacher_forcing_input,
)
from scratchdl.nn.attention import AdditiveAttention

SMALL = {
    "bahdanau-seq2seq": {"embed_size": 8, "hidden_size": 12, "num_layers": 2, "max_len": 6},
    "transformer-seq2seq": {
        "d_model": 16, "nhead": 4, "num_layers": 2, "dim_feedforward": 24, "max_len": 6,
    },
}
BOS, EOS = 2, 3


def small(name: str, **kw):
    torch.manual_seed(0)
    opts = {**SMALL[name], "dropout": 0.0, **kw}
    return build_model(name, src_vocab_size=11, tgt_vocab_size=7, **opts).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 11, (3, 5), generator=g)
    return src, torch.tensor([5, 2, 4])


def test_bahdanau_attend_is_additive_attention():
    model = small("bahdanau-seq2seq")
    src, src_len = batch()
    _, keys, values, _ = model.start(src, src_len)
    query = torch.randn(3, 12)
    context, weights = model.attend(query, keys, values, src_len)
    twin: AdditiveAttention = model.attention
    expect = twin(query.unsqueeze(1), values, values, src_len).squeeze(1)
    torch.testing.assert_close(context, expect, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(weights, twin.attention_weights.squeeze(1))
    assert torch.all(weights[1, 2:] == 0)  # padding gets no weight
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))


@pytest.mark.parametrize("name", list(SMALL))
def test_stepwise_decoding_equals_teacher_forcing_and_ignores_padding(name):
    model = small(name)
    src, src_len = batch()
    tgt = torch.randint(4, 7, (3, 5), generator=torch.Generator().manual_seed(2))
    full = torch.log_softmax(model(src, src_len, teacher_forcing_input(tgt, BOS)), -1)
    state = model.start(src, src_len)
    tokens = torch.full((3,), BOS)
    for t in range(tgt.shape[1]):
        log_probs, state = model.advance(tokens, state)
        torch.testing.assert_close(log_probs, full[:, t], rtol=1e-5, atol=1e-5)
        tokens = tgt[:, t]
    # a sentence decodes the same alone as padded in a batch
    alone = greedy_decode(model, src[1:2, :2], src_len[1:2], BOS, EOS)
    assert greedy_decode(model, src, src_len, BOS, EOS)[1] == alone[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMALL))
def test_wide_beam_finds_the_most_probable_sequence(name):
    model = small(name, max_len=3)
    src, src_len = batch()
    src, src_len = src[1:2, :2], src_len[1:2]  # 2 tokens: within max_len 3
    best = (None, float("-inf"))
    for seq in itertools.product(range(7), repeat=3):  # every output of 3 tokens (or ended)
        ids = list(seq)
        if EOS in ids:
            ids = ids[: ids.index(EOS) + 1]
        tgt = torch.tensor([ids])
        lp = torch.log_softmax(model(src, src_len, teacher_forcing_input(tgt, BOS)), -1)
        score = lp[0, torch.arange(len(ids)), tgt[0]].sum().item()
        if score > best[1]:
            best = ([i for i in ids if i != EOS], score)
    hyp = beam_translate(model, src, src_len, BOS, EOS, beam_size=7 * 7 * 7)[0]
    assert hyp.tokens == best[0] and hyp.log_prob == pytest.approx(best[1], abs=1e-4)
    assert [h.tokens for h in beam_translate(model, src, src_len, BOS, EOS, 1)] == greedy_decode(
        model, src, src_len, BOS, EOS
    )


def test_transformer_cache_rows_follow_the_beams():
    model = small("transformer-seq2seq")
    src, src_len = batch()
    state = model.start(src, src_len)
    _, state = model.advance(torch.full((3,), BOS), state)
    picked = select_state(state, torch.tensor([2, 2, 0]))
    self_k = state[2][0][0]
    assert self_k.shape[0] == 3 and torch.equal(picked[2][0][0][0], self_k[2])
    assert torch.equal(picked[1][2], state[1][0])  # the padding mask moves too


def test_cross_attention_weights_per_head():
    model = small("transformer-seq2seq")
    src, src_len = batch()
    tgt_in = torch.full((3, 4), BOS)
    weights = model.cross_attention(src, src_len, tgt_in)
    assert len(weights) == 2 and weights[0].shape == (3, 4, 4, 5)  # [B, H, T, S]
    torch.testing.assert_close(weights[-1].sum(-1), torch.ones(3, 4, 4))
    assert torch.all(weights[-1][1, :, :, 2:] == 0)
    assert all(b.need_weights is False for b in model.decoder.layers)  # restored (sdpa path)


@pytest.mark.parametrize("name", list(SMALL))
def test_long_sources_are_refused(name):
    model = small(name)
    src = torch.randint(4, 11, (1, 9))
    with pytest.raises(UserError, match="max_len"):
        model.start(src, torch.tensor([9]))


@pytest.mark.slow
def test_heatmaps_write_png_and_pdf(tmp_path):
    from scratchdl.plots.alignment import heatmaps
    from scratchdl.tasks.text._alignment import alignment

    model = small("transformer-seq2seq")
    src, src_len = batch()
    weights = alignment(model, src[:1], src_len[:1], [4, 5], BOS)
    assert weights.shape == (4, 3, 5)  # heads, outputs + <eos>, source units
    paths = heatmaps(weights, list("abcde"), ["x", "y", "<eos>"], "t", tmp_path / "al")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    gru = small("bahdanau-seq2seq")
    assert alignment(gru, src[1:2, :2], src_len[1:2], [4], BOS).shape == (1, 2, 2)
    with pytest.raises(UserError, match="labels"):
        heatmaps(weights, list("abc"), ["x"], "t", tmp_path / "bad")
