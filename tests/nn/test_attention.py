"""masked_softmax, additive and scaled dot-product attention vs hand computation and torch."""

import math

import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.nn.attention import (
    AdditiveAttention,
    DotProductAttention,
    causal_mask,
    masked_softmax,
    scaled_dot_product_attention,
)

TOL = {"atol": 1e-6, "rtol": 1e-5}


def test_masked_softmax_by_hand() -> None:
    scores = torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 5.0]]])  # [B=2, Q=1, K=3]
    w = masked_softmax(scores, torch.tensor([2, 1]))
    e = math.exp(1.0)
    expected = torch.tensor([[[1 / (1 + e), e / (1 + e), 0.0]], [[1.0, 0.0, 0.0]]])
    torch.testing.assert_close(w, expected, **TOL)


def test_masked_softmax_matches_softmax_on_the_kept_part() -> None:
    torch.manual_seed(0)
    scores = torch.randn(3, 4, 6)
    lens = torch.tensor([[6, 1, 3, 4], [2, 2, 5, 6], [1, 6, 6, 3]])  # per query
    w = masked_softmax(scores, lens)
    for b in range(3):
        for q in range(4):
            n = int(lens[b, q])
            torch.testing.assert_close(w[b, q, :n], F.softmax(scores[b, q, :n], -1), **TOL)
            assert torch.all(w[b, q, n:] == 0)


def test_masked_softmax_zero_length_row_is_zero_not_nan() -> None:
    scores = torch.randn(2, 3, 4, requires_grad=True)
    w = masked_softmax(scores, torch.tensor([0, 4]))
    assert torch.all(w[0] == 0) and torch.isfinite(w).all()
    torch.testing.assert_close(w[1].sum(-1), torch.ones(3))
    w.sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_masked_softmax_bool_mask_and_valid_lens_combine() -> None:
    torch.manual_seed(1)
    scores = torch.randn(2, 2, 5)
    mask = torch.tensor([True, False, True, True, True])
    w = masked_softmax(scores, torch.tensor([4, 5]), mask=mask)
    keep0 = torch.tensor([0, 2, 3])
    torch.testing.assert_close(w[0, :, keep0], F.softmax(scores[0][:, keep0], -1), **TOL)
    assert torch.all(w[0, :, [1, 4]] == 0) and torch.all(w[1, :, 1] == 0)
    # 4-D scores (heads) with [B] lengths broadcast over heads and queries
    s4 = torch.randn(2, 3, 2, 5)
    w4 = masked_softmax(s4, torch.tensor([2, 5]))
    torch.testing.assert_close(w4[0, ..., :2], F.softmax(s4[0, ..., :2], -1), **TOL)


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([1, 7]), "valid_lens must lie in"),
    (torch.tensor([1, 2, 3]), "one per batch row"),
    (torch.tensor([1.0, 2.0]), "integers"),
    (torch.ones(2, 5, dtype=torch.long), "expected \\[B\\] or"),
])
def test_masked_softmax_bad_valid_lens(bad: torch.Tensor, match: str) -> None:
    with pytest.raises(UserError, match=match):
        masked_softmax(torch.randn(2, 3, 4), bad)


def test_masked_softmax_bad_mask() -> None:
    with pytest.raises(UserError, match="bool"):
        masked_softmax(torch.randn(2, 3, 4), mask=torch.ones(4))
    with pytest.raises(UserError, match="broadcasts"):
        masked_softmax(torch.randn(2, 3, 4), mask=torch.ones(5, dtype=torch.bool))


def test_causal_mask_bottom_right() -> None:
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]
    torch.testing.assert_close(causal_mask(3, 3), torch.ones(3, 3, dtype=torch.bool).tril())


@pytest.mark.parametrize("kind", ["none", "bool", "float", "causal"])
def test_sdpa_matches_torch(kind: str) -> None:
    torch.manual_seed(2)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 6)
    mask, causal = None, kind == "causal"
    if kind == "bool":  # padding: batch 0 sees 3 keys, batch 1 all 5
        mask = (torch.arange(5) < torch.tensor([3, 5])[:, None])[:, None, None, :]
    elif kind == "float":
        mask = torch.randn(5, 5)
    ours = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    twin = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    torch.testing.assert_close(ours, twin, **TOL)
    fused = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, use_sdpa=True)
    torch.testing.assert_close(fused, twin, **TOL)


def test_causal_combines_with_a_padding_mask() -> None:
    torch.manual_seed(6)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)
    keep = (torch.arange(5) < torch.tensor([3, 5])[:, None])[:, None, None, :]
    both = keep & torch.ones(5, 5, dtype=torch.bool).tril()
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=both)
    additive = torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))
    for mask in (keep, additive):
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)
        torch.testing.assert_close(out, ref, **TOL)


def test_sdpa_gradients_match_torch() -> None:
    # float64: the first causal query sees one key, so its true gradient is exactly 0 and
    # float32 rounding (~1e-6, CPU-dependent) would decide a float32 comparison
    torch.manual_seed(3)
    qkv = [torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    qkv2 = [t.detach().clone().requires_grad_() for t in qkv]
    scaled_dot_product_attention(*qkv, is_causal=True).pow(2).sum().backward()
    F.scaled_dot_product_attention(*qkv2, is_causal=True).pow(2).sum().backward()
    for a, b in zip(qkv, qkv2, strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-10, rtol=1e-10)


def test_sdpa_errors() -> None:
    with pytest.raises(UserError, match="queries have size 8 but keys 6"):
        scaled_dot_product_attention(torch.randn(1, 2, 8), torch.randn(1, 3, 6),
                                     torch.randn(1, 3, 6))
    with pytest.raises(UserError, match="attn_mask has shape"):
        scaled_dot_product_attention(torch.randn(1, 2, 8), torch.randn(1, 3, 8),
                                     torch.randn(1, 3, 8), attn_mask=torch.ones(2, 2).bool())
    with pytest.raises(UserError, match="bool or float"):
        scaled_dot_product_attention(torch.randn(1, 2, 8), torch.randn(1, 3, 8),
                                     torch.randn(1, 3, 8), attn_mask=torch.ones(2, 3).long())


def test_dot_product_attention_module_keeps_weights() -> None:
    torch.manual_seed(4)
    q, k, v = torch.randn(2, 1, 2), torch.ones(2, 10, 2), torch.arange(40.0).reshape(1, 10, 4)
    v = v.repeat(2, 1, 1)
    att = DotProductAttention().eval()
    out = att(q, k, v, torch.tensor([2, 6]))
    # equal keys -> uniform weights over the valid ones -> output = mean of the valid values
    torch.testing.assert_close(out[0, 0], v[0, :2].mean(0), **TOL)
    torch.testing.assert_close(out[1, 0], v[1, :6].mean(0), **TOL)
    assert att.attention_weights.shape == (2, 1, 10)


def test_additive_attention_by_hand() -> None:
    torch.manual_seed(5)
    att = AdditiveAttention(key_size=3, query_size=4, num_hiddens=5).eval()
    q, k, v = torch.randn(2, 2, 4), torch.randn(2, 6, 3), torch.randn(2, 6, 7)
    lens = torch.tensor([3, 6])
    out = att(q, k, v, lens)
    for b in range(2):
        for i in range(2):
            n = int(lens[b])
            s = torch.stack([att.w_v.weight[0] @ torch.tanh(att.W_q.weight @ q[b, i]
                                                            + att.W_k.weight @ k[b, j])
                             for j in range(n)])
            w = torch.softmax(s, 0)
            torch.testing.assert_close(out[b, i], w @ v[b, :n], **TOL)
            torch.testing.assert_close(att.attention_weights[b, i, :n], w, **TOL)
    assert torch.all(att.attention_weights[0, :, 3:] == 0)


def test_additive_attention_size_mismatch() -> None:
    att = AdditiveAttention(3, 4, 5)
    with pytest.raises(UserError, match="queries of size 4 and keys of size 3"):
        att(torch.randn(1, 2, 3), torch.randn(1, 2, 3), torch.randn(1, 2, 3))
