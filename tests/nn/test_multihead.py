"""MultiHeadAttention vs nn.MultiheadAttention with copied weights; KV cache vs recomputation."""

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.nn.multihead import KVCache, MultiHeadAttention
from scratchdl.nn.positions import RotaryEmbedding

TOL = {"atol": 1e-5, "rtol": 1e-5}
E, H = 16, 4


def pair(batch_first: bool, **kw: object) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    twin = nn.MultiheadAttention(E, H, batch_first=batch_first, **kw).eval()
    with torch.no_grad():  # non-zero biases so a dropped bias would show
        twin.in_proj_bias.normal_()
        twin.out_proj.bias.normal_()
    ours = MultiHeadAttention(E, H, batch_first=batch_first).eval().load_from_torch(twin)
    return ours, twin


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("masks", ["none", "padding", "causal", "both", "float"])
def test_mha_matches_torch(batch_first: bool, masks: str) -> None:
    ours, twin = pair(batch_first)
    B, L, S = 3, 5, 5
    shape = lambda T: (B, T, E) if batch_first else (T, B, E)  # noqa: E731
    q, k, v = torch.randn(shape(L)), torch.randn(shape(S)), torch.randn(shape(S))
    kpm = am = None
    if masks in ("padding", "both"):
        kpm = torch.arange(S) >= torch.tensor([5, 3, 1])[:, None]  # True = pad
    if masks in ("causal", "both"):
        am = torch.ones(L, S, dtype=torch.bool).triu(1)  # True = not allowed
    if masks == "float":
        am = torch.randn(L, S)
    out, w = ours(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=True)
    t_out, t_w = twin(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=True)
    torch.testing.assert_close(out, t_out, **TOL)
    torch.testing.assert_close(w, t_w, **TOL)
    if masks in ("causal", "both"):  # is_causal alone builds the same mask
        out2, _ = ours(q, k, v, key_padding_mask=kpm, is_causal=True)
        torch.testing.assert_close(out2, t_out, **TOL)


def test_mha_per_head_weights_and_gradients() -> None:
    ours, twin = pair(True)
    x = torch.randn(2, 6, E)
    out, w = ours(x, x, x, need_weights=True, average_attn_weights=False)
    t_out, t_w = twin(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(w, t_w, **TOL)
    assert w.shape == (2, H, 6, 6)
    out.pow(2).sum().backward()
    t_out.pow(2).sum().backward()
    torch.testing.assert_close(ours.q_proj.weight.grad, twin.in_proj_weight.grad[:E], **TOL)
    torch.testing.assert_close(ours.out_proj.weight.grad, twin.out_proj.weight.grad, **TOL)


def test_mha_kdim_vdim_and_3d_attn_mask() -> None:
    torch.manual_seed(1)
    twin = nn.MultiheadAttention(E, H, kdim=6, vdim=10, batch_first=True).eval()
    ours = MultiHeadAttention(E, H, kdim=6, vdim=10).eval().load_from_torch(twin)
    q, k, v = torch.randn(2, 3, E), torch.randn(2, 4, 6), torch.randn(2, 4, 10)
    am = torch.rand(2 * H, 3, 4) > 0.3
    am[..., 0] = False  # every query keeps a key
    torch.testing.assert_close(ours(q, k, v, attn_mask=am)[0], twin(q, k, v, attn_mask=am)[0],
                               **TOL)


def test_mha_sdpa_path_equals_readable_path() -> None:
    ours, _ = pair(True)
    x = torch.randn(2, 7, E)
    kpm = torch.arange(7) >= torch.tensor([7, 4])[:, None]
    ref = ours(x, x, x, key_padding_mask=kpm, is_causal=True)[0]
    ours.use_sdpa = True
    torch.testing.assert_close(ours(x, x, x, key_padding_mask=kpm, is_causal=True)[0], ref,
                               **TOL)


@pytest.mark.parametrize("rotary", [False, True])
def test_kv_cache_equals_full_recomputation(rotary: bool) -> None:
    torch.manual_seed(2)
    rope = RotaryEmbedding(E // H, max_len=32) if rotary else None
    mha = MultiHeadAttention(E, H, rotary=rope).eval()
    x = torch.randn(2, 9, E)
    full = mha(x, x, x, is_causal=True)[0]
    cache = KVCache()
    steps = [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], is_causal=True, cache=cache)[0]
             for t in range(4)]
    # then a chunk of 3 at once, then the rest one by one
    steps.append(mha(x[:, 4:7], x[:, 4:7], x[:, 4:7], is_causal=True, cache=cache)[0])
    steps += [mha(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], is_causal=True, cache=cache)[0]
              for t in range(7, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)
    assert cache.length == 9


def test_static_cache_projects_memory_once() -> None:
    torch.manual_seed(3)
    mha = MultiHeadAttention(E, H).eval()
    mem = torch.randn(2, 5, E)
    cache = KVCache(static=True)
    q1, q2 = torch.randn(2, 1, E), torch.randn(2, 1, E)
    a = mha(q1, mem, mem, cache=cache)[0]
    b = mha(q2, mem * 0, mem * 0, cache=cache)[0]  # memory ignored: cached projection reused
    torch.testing.assert_close(a, mha(q1, mem, mem)[0], **TOL)
    torch.testing.assert_close(b, mha(q2, mem, mem)[0], **TOL)
    assert cache.length == 5


def test_mha_errors() -> None:
    with pytest.raises(UserError, match="positive divisor of embed_dim=10"):
        MultiHeadAttention(10, 3)
    mha = MultiHeadAttention(E, H)
    x = torch.randn(2, 3, E)
    with pytest.raises(UserError, match="expects key \\[B, T, E\\] with E=16"):
        mha(x, torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    with pytest.raises(UserError, match="key_padding_mask has shape"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(UserError, match="bool or float"):
        mha(x, x, x, key_padding_mask=torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(UserError, match="attn_mask has shape"):
        mha(x, x, x, attn_mask=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(UserError, match="embed_dim=8"):
        MultiHeadAttention(E, H).load_from_torch(nn.MultiheadAttention(8, 2))


def test_attention_dropout_matches_torch_draw_for_draw() -> None:
    torch.manual_seed(0)
    twin = nn.MultiheadAttention(E, H, dropout=0.3, batch_first=True)  # training mode
    ours = MultiHeadAttention(E, H, dropout=0.3).load_from_torch(twin)
    x = torch.randn(2, 5, E)
    torch.manual_seed(7)
    out, w = ours(x, x, x, need_weights=True)
    torch.manual_seed(7)
    t_out, t_w = twin(x, x, x, need_weights=True)
    torch.testing.assert_close(out, t_out, **TOL)
    torch.testing.assert_close(w, t_w, **TOL)
    assert not torch.allclose(out, ours.eval()(x, x, x)[0])  # dropout did act
