"""Attention from scratch: masked softmax, additive (Bahdanau) and scaled dot-product attention.

Shapes follow the book and torch: queries [B, ..., Q, d_q], keys [B, ..., K, d_k], values
[B, ..., K, d_v]; the attention weights are [B, ..., Q, K] and each row sums to one over the
keys a query may see. A row that may see no key at all (valid length 0, or a fully masked
row) gets all-zero weights, hence a zero output, never NaN.

Two mask conventions exist in torch and both are honoured where torch uses them:
- `masked_softmax(mask=...)` and `scaled_dot_product_attention(attn_mask=...)` follow
  F.scaled_dot_product_attention: a boolean mask says True = *keep*; a float mask is *added*
  to the scores (0 keeps, -inf removes).
- MultiHeadAttention (multihead.py) follows nn.MultiheadAttention: boolean True = *ignore*.

The readable path computes softmax(q k^T / sqrt(d)) v with the weights in memory (O(Q*K) per
head); `use_sdpa=True` calls the fused torch kernel (flash / memory-efficient on GPU) instead,
with the same result but no weights to plot.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError

__all__ = [
    "AdditiveAttention",
    "DotProductAttention",
    "attention_with_weights",
    "causal_mask",
    "check_mask",
    "masked_softmax",
    "scaled_dot_product_attention",
]


def check_mask(mask: Tensor, target: tuple[int, ...], what: str, allow_float: bool = True) -> None:
    """Raise a one-line UserError unless `mask` is bool (or float) and broadcasts to `target`."""
    if mask.dtype != torch.bool and not (allow_float and mask.is_floating_point()):
        kinds = "bool or float" if allow_float else "bool"
        raise UserError(f"{what} must be a {kinds} tensor, got dtype {mask.dtype}; "
                        f"build it with e.g. `lengths[:, None] > torch.arange(T)`")
    try:
        shape = torch.broadcast_shapes(tuple(mask.shape), target)
    except RuntimeError:
        shape = None
    if shape != tuple(target):
        raise UserError(f"{what} has shape {tuple(mask.shape)}, expected one that broadcasts to "
                        f"{tuple(target)}")


def _valid_lens_mask(shape: tuple[int, ...], valid_lens: Tensor) -> Tensor:
    """Boolean keep-mask [B, 1.., Q or 1, K] for scores of `shape`, from lengths [B] or [B, Q]."""
    B, K, ndim = shape[0], shape[-1], len(shape)
    if valid_lens.dim() == 1:
        if valid_lens.shape[0] != B:
            raise UserError(f"valid_lens has {valid_lens.shape[0]} entries, expected one per "
                            f"batch row ({B})")
        lens = valid_lens.reshape(B, *([1] * (ndim - 1)))
    elif valid_lens.dim() == 2:
        if ndim < 3 or tuple(valid_lens.shape) != (B, shape[-2]):
            raise UserError(f"valid_lens has shape {tuple(valid_lens.shape)}, expected [B] or "
                            f"[B, Q] = {[B, shape[-2]] if ndim >= 3 else [B]}")
        lens = valid_lens.reshape(B, *([1] * (ndim - 3)), valid_lens.shape[1], 1)
    else:
        raise UserError(f"valid_lens must be 1-D [B] or 2-D [B, Q], got {valid_lens.dim()}-D")
    if valid_lens.is_floating_point() or valid_lens.dtype == torch.bool:
        raise UserError(f"valid_lens must hold integers, got dtype {valid_lens.dtype}")
    if valid_lens.numel() and (int(valid_lens.max()) > K or int(valid_lens.min()) < 0):
        raise UserError(f"valid_lens must lie in [0, {K}] (the number of keys), got "
                        f"{int(valid_lens.min())}..{int(valid_lens.max())}")
    return torch.arange(K, device=valid_lens.device) < lens


def masked_softmax(scores: Tensor, valid_lens: Tensor | None = None,
                   mask: Tensor | None = None) -> Tensor:
    """Softmax over the last axis that only sees the kept keys; fully masked rows are zero.

    valid_lens: [B] (one length per batch row) or [B, Q] (one per query); keys at positions
    >= the length are dropped. mask: bool, broadcastable to scores, True = keep. Both may be
    given (a key must pass both). Masked entries get exactly zero weight.
    """
    keep = None
    if valid_lens is not None:
        keep = _valid_lens_mask(tuple(scores.shape), valid_lens)
    if mask is not None:
        check_mask(mask, tuple(scores.shape), "mask", allow_float=False)
        keep = mask if keep is None else keep & mask
    if keep is None:
        return F.softmax(scores, dim=-1)
    # The smallest finite value, not -inf: a row with nothing kept stays finite (uniform),
    # and the final multiply by `keep` turns it into the zero row we promise.
    filled = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    return F.softmax(filled, dim=-1) * keep


def causal_mask(q_len: int, k_len: int, device: torch.device | None = None) -> Tensor:
    """Boolean keep-mask [Q, K]: query i sees keys j <= i + (K - Q).

    The queries are the *last* Q positions of the K-long sequence (bottom-right aligned), which
    is what incremental decoding with a KV cache needs; for Q == K it is the usual lower
    triangle (torch's is_causal is top-left aligned and agrees only when Q == K).
    """
    i = torch.arange(q_len, device=device)[:, None]
    j = torch.arange(k_len, device=device)[None, :]
    return j <= i + (k_len - q_len)


def attention_with_weights(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None,
                           is_causal: bool = False, dropout_p: float = 0.0,
                           scale: float | None = None,
                           use_sdpa: bool = False) -> tuple[Tensor, Tensor | None]:
    """softmax(q k^T * scale + mask) v and the weights (None on the fused `use_sdpa` path).

    q [..., Q, d], k [..., K, d], v [..., K, d_v]. attn_mask: bool (True = keep) or float
    (added), broadcastable to [..., Q, K]. is_causal adds causal_mask (bottom-right aligned).
    Dropout applies to the weights (pass dropout_p=0 in eval mode).
    """
    if q.shape[-1] != k.shape[-1]:
        raise UserError(f"queries have size {q.shape[-1]} but keys {k.shape[-1]} in the last "
                        f"axis; dot-product attention needs them equal (project one of them)")
    if k.shape[-2] != v.shape[-2]:
        raise UserError(f"keys ({k.shape[-2]}) and values ({v.shape[-2]}) must have the same "
                        f"sequence length")
    Q, K = q.shape[-2], k.shape[-2]
    target = (*torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]), Q, K)
    if attn_mask is not None:
        check_mask(attn_mask, target, "attn_mask")
    if is_causal:
        cm = causal_mask(Q, K, q.device)
        if attn_mask is None:
            attn_mask = cm
        elif attn_mask.dtype == torch.bool:
            attn_mask = attn_mask & cm
        else:
            attn_mask = attn_mask.masked_fill(~cm, float("-inf"))
    if use_sdpa:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                             scale=scale)
        return out, None
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale
    keep = None
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            keep = attn_mask
        else:
            scores = scores + attn_mask
            keep = scores > float("-inf")
    weights = masked_softmax(scores, mask=keep)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None,
                                 is_causal: bool = False, dropout_p: float = 0.0,
                                 scale: float | None = None, use_sdpa: bool = False) -> Tensor:
    """The readable twin of F.scaled_dot_product_attention (same arguments, same output)."""
    return attention_with_weights(q, k, v, attn_mask, is_causal, dropout_p, scale, use_sdpa)[0]


class DotProductAttention(nn.Module):
    """Scaled dot-product attention as a module (the book's API), weights kept for plotting.

    forward(queries, keys, values, valid_lens=None, mask=None): valid_lens [B] or [B, Q];
    mask bool True = keep. `self.attention_weights` is [B, ..., Q, K] (None with use_sdpa).
    """

    def __init__(self, dropout: float = 0.0, use_sdpa: bool = False) -> None:
        super().__init__()
        self.dropout = dropout
        self.use_sdpa = use_sdpa
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                valid_lens: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        shape = (*queries.shape[:-1], keys.shape[-2])
        keep = None
        if valid_lens is not None:
            keep = _valid_lens_mask(shape, valid_lens.to(queries.device))
        if mask is not None:
            check_mask(mask, shape, "mask", allow_float=False)
            keep = mask if keep is None else keep & mask
        p = self.dropout if self.training else 0.0
        out, self.attention_weights = attention_with_weights(
            queries, keys, values, attn_mask=keep, dropout_p=p, use_sdpa=self.use_sdpa)
        return out


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score(q, k) = w_v^T tanh(W_q q + W_k k), for queries and keys of
    different sizes. forward(queries [B, Q, q], keys [B, K, k], values [B, K, v], valid_lens)
    -> [B, Q, v]; `self.attention_weights` [B, Q, K] is kept for alignment plots."""

    def __init__(self, key_size: int, query_size: int, num_hiddens: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.attention_weights: Tensor | None = None

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor,
                valid_lens: Tensor | None = None) -> Tensor:
        if queries.shape[-1] != self.W_q.in_features or keys.shape[-1] != self.W_k.in_features:
            raise UserError(f"AdditiveAttention expects queries of size {self.W_q.in_features} "
                            f"and keys of size {self.W_k.in_features}, got {queries.shape[-1]} "
                            f"and {keys.shape[-1]}")
        if keys.shape[-2] != values.shape[-2]:
            raise UserError(f"keys ({keys.shape[-2]}) and values ({values.shape[-2]}) must have "
                            f"the same sequence length")
        # [B, Q, 1, h] + [B, 1, K, h] -> [B, Q, K, h] -> one score per (query, key) pair.
        features = torch.tanh(self.W_q(queries).unsqueeze(-2) + self.W_k(keys).unsqueeze(-3))
        scores = self.w_v(features).squeeze(-1)
        self.attention_weights = masked_softmax(scores, valid_lens)
        return self.dropout(self.attention_weights) @ values
