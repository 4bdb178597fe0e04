"""Multi-head attention from scratch, a drop-in twin of nn.MultiheadAttention, with a KV cache.

Each head attends in its own d = embed_dim / num_heads subspace: project q, k, v, split the
last axis into heads [B, H, T, d], run scaled dot-product attention, concatenate the heads and
project back. Masks follow nn.MultiheadAttention: key_padding_mask [B, S] and attn_mask [L, S]
or [B*H, L, S], boolean True = *ignore* that key (float masks are added to the scores).

Incremental decoding: pass a KVCache; the keys and values of the new positions are appended
to it, so decoding token t costs O(t) instead of recomputing the whole prefix (O(t^2)).
A `static` cache (cross-attention) projects the encoder memory once and reuses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.nn.attention import attention_with_weights, causal_mask, check_mask

__all__ = ["KVCache", "MultiHeadAttention"]


@dataclass
class KVCache:
    """Keys and values [B, H, T, d] seen so far by one attention layer.

    static=True (cross-attention): the first call stores the projected memory and later calls
    reuse it; otherwise every call appends its new positions.
    """

    k: Tensor | None = None
    v: Tensor | None = None
    static: bool = False

    @property
    def length(self) -> int:
        """How many positions the cache holds (the offset of the next query)."""
        return 0 if self.k is None else self.k.shape[-2]


def _additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """nn.MultiheadAttention's convention -> an additive float mask (True = ignore -> -inf)."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask.to(dtype)


class MultiHeadAttention(nn.Module):
    """nn.MultiheadAttention's maths in readable steps (separate q/k/v projections).

    forward(query, key, value, key_padding_mask=None, attn_mask=None, is_causal=False,
    need_weights=False, cache=None) -> (out, weights or None). Inputs are [B, T, E] with
    batch_first (the default here, unlike torch) else [T, B, E]. is_causal alone builds the
    causal mask (torch needs attn_mask too). weights: [B, L, S] averaged over heads, or
    [B, H, L, S] with average_attn_weights=False; the last ones are kept in
    `self.attention_weights` [B, H, L, S] whenever need_weights is set.
    rotary: a RotaryEmbedding applied to q and k of every head (offset by the cache length).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = True, kdim: int | None = None, vdim: int | None = None,
                 use_sdpa: bool = False, rotary: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(num_heads, int) or num_heads <= 0 or embed_dim % num_heads:
            raise UserError(f"num_heads must be a positive divisor of embed_dim={embed_dim}, "
                            f"got {num_heads!r}; pick e.g. {_divisors(embed_dim)}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.batch_first, self.use_sdpa = dropout, batch_first, use_sdpa
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.rotary = rotary
        self.attention_weights: Tensor | None = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # torch's init: xavier_uniform on the stacked [3E, E] input projection when q, k, v
        # share a size (so the bound sees fan_out = 3E), per projection otherwise; zero biases.
        same = self.kdim == self.vdim == self.embed_dim
        bound = math.sqrt(6.0 / (4 * self.embed_dim))
        for lin in (self.q_proj, self.k_proj, self.v_proj):
            if same:
                nn.init.uniform_(lin.weight, -bound, bound)
            else:
                nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        if self.out_proj.bias is not None:
            nn.init.zeros_(self.out_proj.bias)

    @torch.no_grad()
    def load_from_torch(self, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy an nn.MultiheadAttention's weights in (the twin test and pretrained loading)."""
        if mha.bias_k is not None or mha.add_zero_attn:
            raise UserError("load_from_torch supports nn.MultiheadAttention without add_bias_kv "
                            "and add_zero_attn")
        if (mha.embed_dim, mha.num_heads) != (self.embed_dim, self.num_heads):
            raise UserError(f"nn.MultiheadAttention has embed_dim={mha.embed_dim}, num_heads="
                            f"{mha.num_heads}; this module {self.embed_dim}, {self.num_heads}")
        if mha._qkv_same_embed_dim:
            ws = mha.in_proj_weight.chunk(3)
        else:
            ws = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
        bs = mha.in_proj_bias.chunk(3) if mha.in_proj_bias is not None else (None,) * 3
        for lin, w, b in zip((self.q_proj, self.k_proj, self.v_proj), ws, bs, strict=True):
            lin.weight.copy_(w)
            if b is not None and lin.bias is not None:
                lin.bias.copy_(b)
        self.out_proj.weight.copy_(mha.out_proj.weight)
        if mha.out_proj.bias is not None and self.out_proj.bias is not None:
            self.out_proj.bias.copy_(mha.out_proj.bias)
        return self

    def _heads(self, x: Tensor) -> Tensor:
        """[B, T, E] -> [B, H, T, d]."""
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def _check(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, x, size in (("query", query, self.embed_dim), ("key", key, self.kdim),
                              ("value", value, self.vdim)):
            if x.dim() != 3 or x.shape[-1] != size:
                layout = "[B, T, E]" if self.batch_first else "[T, B, E]"
                raise UserError(f"MultiHeadAttention expects {name} {layout} with E={size}, "
                                f"got shape {tuple(x.shape)}")
        if key.shape[:2] != value.shape[:2]:
            raise UserError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must agree "
                            f"in batch and sequence length")

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
                is_causal: bool = False, need_weights: bool = False,
                cache: KVCache | None = None,
                average_attn_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        self._check(query, key, value)
        if not self.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        B, L, _ = query.shape
        past = 0 if cache is None or cache.static else cache.length
        q = self._heads(self.q_proj(query))
        if cache is not None and cache.static and cache.k is not None:
            k, v = cache.k, cache.v
        else:
            k, v = self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
            if self.rotary is not None:
                k = self.rotary(k, offset=past)
            if cache is not None:
                if not cache.static and cache.k is not None:
                    k, v = torch.cat([cache.k, k], dim=2), torch.cat([cache.v, v], dim=2)
                cache.k, cache.v = k, v
        if self.rotary is not None:
            q = self.rotary(q, offset=past)
        S = k.shape[2]
        mask = self._mask(key_padding_mask, attn_mask, is_causal, B, L, S, q)
        p = self.dropout if self.training else 0.0
        use_sdpa = self.use_sdpa and not need_weights
        out, weights = attention_with_weights(q, k, v, attn_mask=mask, dropout_p=p,
                                              use_sdpa=use_sdpa)
        out = self.out_proj(out.transpose(1, 2).reshape(B, L, self.embed_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        self.attention_weights = weights
        return out, weights.mean(dim=1) if average_attn_weights else weights

    def _mask(self, key_padding_mask: Tensor | None, attn_mask: Tensor | None, is_causal: bool,
              B: int, L: int, S: int, q: Tensor) -> Tensor | None:
        """One additive mask broadcastable to [B, H, L, S] from torch-style masks."""
        mask = None
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (B, S):
                raise UserError(f"key_padding_mask has shape {tuple(key_padding_mask.shape)}, "
                                f"expected [B, S] = [{B}, {S}] (True marks padding)")
            check_mask(key_padding_mask, (B, S), "key_padding_mask")
            mask = _additive(key_padding_mask, q.dtype)[:, None, None, :]
        if attn_mask is not None:
            if attn_mask.dim() == 3:
                check_mask(attn_mask, (B * self.num_heads, L, S), "attn_mask")
                am = _additive(attn_mask, q.dtype).view(B, self.num_heads, L, S)
            else:
                check_mask(attn_mask, (L, S), "attn_mask")
                am = _additive(attn_mask, q.dtype)
            mask = am if mask is None else mask + am
        if is_causal and L > 1:
            cm = _additive(~causal_mask(L, S, q.device), q.dtype)
            mask = cm if mask is None else mask + cm
        return mask


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, min(n, 16) + 1) if n % d == 0]
