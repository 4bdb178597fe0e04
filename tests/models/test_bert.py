"""Our BERT's pieces: the 80/10/10 masking rule, the heads, and a synthetic span task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.models.text.bert import Bert, BertConfig, mask_tokens, mean_pool
from scratchdl.models.text.bert_heads import (
    BertPretrain,
    BertSequenceClassifier,
    BertSpanExtractor,
    BertTokenTagger,
    best_span,
    span_loss,
)

TINY = BertConfig(vocab_size=30, hidden=32, layers=2, heads=4, intermediate=64, max_positions=16)


def test_masking_follows_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (1000, 250), generator=g)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False  # [CLS] is never a target
    inputs, labels = mask_tokens(ids, maskable, mask_id=4, vocab_size=1000, generator=g)
    chosen = labels != -100
    assert not chosen[:, 0].any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # only targets are ever changed
    n = chosen.sum().item()
    assert abs(n / maskable.sum().item() - 0.15) < 0.003
    masked = (inputs[chosen] == 4).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    # ~37k targets: standard errors 0.0021 (80%) and 0.0016 (10%); tolerances ~4.5 of them.
    # A random replacement equals the original 1 time in 1000 (counted in `kept`).
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.007
    assert abs(1 - masked - kept - 0.1) < 0.007


def test_heads_shapes_and_tied_decoder():
    torch.manual_seed(0)
    model = BertPretrain(Bert(TINY))
    ids = torch.randint(5, 30, (3, 7))
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 1]] * 3)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mlm, nsp = model(ids, segments, mask)
    assert mlm.shape == (3, 7, 30) and nsp.shape == (3, 2)
    assert model.mlm.decoder_weight is model.bert.embeddings.token.weight
    n_params = sum(p.numel() for p in model.parameters())  # tied: counted once
    assert n_params == sum(p.numel() for p in set(model.parameters()))
    bert = model.bert
    assert BertSequenceClassifier(bert, 5)(ids).shape == (3, 5)
    assert BertTokenTagger(bert, 4)(ids, segments, mask).shape == (3, 7, 4)


def test_padding_does_not_change_real_tokens():
    torch.manual_seed(0)
    bert = Bert(TINY).eval()
    ids = torch.randint(5, 30, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = padded != 0
    h1, p1 = bert(ids)
    h2, p2 = bert(padded, None, mask)
    torch.testing.assert_close(h2[:, :6], h1, atol=1e-5, rtol=0)
    torch.testing.assert_close(p2, p1, atol=1e-5, rtol=0)
    torch.testing.assert_close(mean_pool(h2, mask), F.normalize(h1.mean(1)), atol=1e-5, rtol=0)


def test_bad_shapes_are_one_line():
    bert = Bert(TINY)
    with pytest.raises(UserError, match="longer than BERT's position table"):
        bert(torch.ones(1, 17, dtype=torch.long))
    with pytest.raises(UserError, match=r"expected \(batch, length\)"):
        bert(torch.ones(17, dtype=torch.long))


def test_best_span_hand_computed():
    start = torch.tensor([[0.0, 5.0, 1.0, 0.0]])
    end = torch.tensor([[6.0, 0.0, 2.0, 1.0]])  # (1, 0) scores 11 but ends before it starts
    assert best_span(start, end).tolist() == [[1, 2]]  # 5 + 2
    assert best_span(start, end, max_len=1).tolist() == [[0, 0]]  # 6 beats 5 and 3


def _span_batch(g: torch.Generator, n: int = 64, t: int = 12):
    """Random tokens 6..29 with a run of marker tokens (5) somewhere: find the run."""
    ids = torch.randint(6, 30, (n, t), generator=g)
    ids[:, 0] = 2  # [CLS]
    s = torch.randint(1, t - 3, (n,), generator=g)
    length = torch.randint(1, 4, (n,), generator=g)
    pos = torch.arange(t)
    run = (pos >= s[:, None]) & (pos < (s + length)[:, None])
    return ids.masked_fill(run, 5), s, s + length - 1


@pytest.mark.slow
def test_span_extractor_learns_a_synthetic_span_task():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = BertSpanExtractor(Bert(BertConfig(**{**TINY.__dict__, "dropout": 0.0})))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):  # a test of the head, not a recipe: the engine trains real tasks
        ids, s, e = _span_batch(g)
        loss = span_loss(*model(ids), s, e)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids, s, e = _span_batch(g, 256)
    with torch.no_grad():
        pred = best_span(*model(ids))
    exact = ((pred[:, 0] == s) & (pred[:, 1] == e)).float().mean().item()
    assert exact > 0.9, exact


def test_fused_attention_path_gives_the_same_hidden_states():
    torch.manual_seed(0)
    readable = Bert(TINY).eval()
    fused = Bert(BertConfig(**{**TINY.__dict__, "use_sdpa": True})).eval()
    fused.load_state_dict(readable.state_dict())
    ids = torch.randint(5, 30, (3, 9))
    mask = torch.arange(9) < torch.tensor([9, 4, 1])[:, None]
    for a, b in zip(readable(ids, None, mask), fused(ids, None, mask), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
