"""Transformer blocks from scratch, twins of nn.TransformerEncoderLayer / DecoderLayer.

A block is attention and a position-wise feed-forward net, each wrapped in a residual
connection with layer norm (AddNorm): post-norm (the 2017 paper, BERT) normalises after the
residual sum, pre-norm (GPT-2 and later) normalises the sublayer's input and leaves the
residual path clean, which trains deep stacks without warm-up tricks. Parameter layout and
maths follow torch's layers, so `load_from_torch(layer)` copies their weights in.

Decoding a token at a time: pass the cache from `new_cache()` and feed only the new tokens;
outputs equal the full recomputation (tests/nn/test_transformer.py checks it at every step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.nn.multihead import KVCache, MultiHeadAttention

__all__ = [
    "AddNorm",
    "DecoderCache",
    "PositionwiseFFN",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


class PositionwiseFFN(nn.Module):
    """The same two-layer MLP at every position: linear2(dropout(act(linear1(x))))."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0,
                 activation: str = "relu") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise UserError(f"activation must be one of {sorted(_ACTIVATIONS)}, got "
                            f"{activation!r}")
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.activation = _ACTIVATIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class AddNorm(nn.Module):
    """Residual + layer norm around a sublayer f.

    post-norm: norm(x + dropout(f(x)));  pre-norm (norm_first): x + dropout(f(norm(x))).
    """

    def __init__(self, d_model: int, dropout: float = 0.0, eps: float = 1e-5,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer: Callable[[Tensor], Tensor]) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


def _copy_linear(dst: nn.Module, src: nn.Module) -> None:
    dst.weight.data.copy_(src.weight.data)
    if getattr(dst, "bias", None) is not None and getattr(src, "bias", None) is not None:
        dst.bias.data.copy_(src.bias.data)


class TransformerEncoderBlock(nn.Module):
    """Self-attention + FFN (twin: nn.TransformerEncoderLayer).

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False, cache=None): masks
    as in nn.MultiheadAttention (True = ignore). With is_causal and a KVCache it is the block
    of a decoder-only (GPT) model. Set `need_weights = True` to keep the per-head weights in
    `self.self_attn.attention_weights` [B, H, L, S].
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 rotary: nn.Module | None = None, use_sdpa: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, batch_first=batch_first,
                                            rotary=rotary, use_sdpa=use_sdpa)
        self.ffn = PositionwiseFFN(d_model, dim_feedforward, dropout, activation)
        self.addnorm1 = AddNorm(d_model, dropout, layer_norm_eps, norm_first)
        self.addnorm2 = AddNorm(d_model, dropout, layer_norm_eps, norm_first)
        self.need_weights = False

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False,
                cache: KVCache | None = None) -> Tensor:
        def attend(x: Tensor) -> Tensor:
            return self.self_attn(x, x, x, key_padding_mask=src_key_padding_mask,
                                  attn_mask=src_mask, is_causal=is_causal,
                                  need_weights=self.need_weights, cache=cache)[0]

        return self.addnorm2(self.addnorm1(src, attend), self.ffn)

    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> TransformerEncoderBlock:
        """Copy an nn.TransformerEncoderLayer's weights in."""
        self.self_attn.load_from_torch(layer.self_attn)
        for dst, src in ((self.ffn.linear1, layer.linear1), (self.ffn.linear2, layer.linear2),
                         (self.addnorm1.norm, layer.norm1), (self.addnorm2.norm, layer.norm2)):
            _copy_linear(dst, src)
        return self


@dataclass
class DecoderCache:
    """One decoder block's caches: growing self-attention keys, encoder memory projected once."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=lambda: KVCache(static=True))


class TransformerDecoderBlock(nn.Module):
    """Causal self-attention + cross-attention to the encoder memory + FFN
    (twin: nn.TransformerDecoderLayer). The self-attention is causal by default
    (tgt_is_causal=True). `self.cross_attention_weights` [B, H, T, S] is kept for plots."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 rotary: nn.Module | None = None, use_sdpa: bool = False) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout, batch_first=batch_first,
                                            rotary=rotary, use_sdpa=use_sdpa)
        self.cross_attn = MultiHeadAttention(d_model, nhead, dropout, batch_first=batch_first,
                                             use_sdpa=use_sdpa)
        self.ffn = PositionwiseFFN(d_model, dim_feedforward, dropout, activation)
        self.addnorm1 = AddNorm(d_model, dropout, layer_norm_eps, norm_first)
        self.addnorm2 = AddNorm(d_model, dropout, layer_norm_eps, norm_first)
        self.addnorm3 = AddNorm(d_model, dropout, layer_norm_eps, norm_first)
        self.need_weights = not use_sdpa

    @property
    def cross_attention_weights(self) -> Tensor | None:
        """Per-head weights [B, H, T, S] of the last forward (None if need_weights is off)."""
        return self.cross_attn.attention_weights

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = True,
                cache: DecoderCache | None = None) -> Tensor:
        def self_attend(x: Tensor) -> Tensor:
            return self.self_attn(x, x, x, key_padding_mask=tgt_key_padding_mask,
                                  attn_mask=tgt_mask, is_causal=tgt_is_causal,
                                  cache=None if cache is None else cache.self_attn)[0]

        def cross_attend(x: Tensor) -> Tensor:
            return self.cross_attn(x, memory, memory, key_padding_mask=memory_key_padding_mask,
                                   attn_mask=memory_mask, need_weights=self.need_weights,
                                   cache=None if cache is None else cache.cross_attn)[0]

        x = self.addnorm1(tgt, self_attend)
        x = self.addnorm2(x, cross_attend)
        return self.addnorm3(x, self.ffn)

    def load_from_torch(self, layer: nn.TransformerDecoderLayer) -> TransformerDecoderBlock:
        """Copy an nn.TransformerDecoderLayer's weights in."""
        self.self_attn.load_from_torch(layer.self_attn)
        self.cross_attn.load_from_torch(layer.multihead_attn)
        for dst, src in ((self.ffn.linear1, layer.linear1), (self.ffn.linear2, layer.linear2),
                         (self.addnorm1.norm, layer.norm1), (self.addnorm2.norm, layer.norm2),
                         (self.addnorm3.norm, layer.norm3)):
            _copy_linear(dst, src)
        return self


class TransformerEncoder(nn.Module):
    """A stack of TransformerEncoderBlock (same arguments) and, for pre-norm stacks, a final
    LayerNorm (final_norm defaults to norm_first, as GPT-2 and torch's norm= argument do)."""

    def __init__(self, num_layers: int, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 rotary: nn.Module | None = None, use_sdpa: bool = False,
                 final_norm: bool | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerEncoderBlock(d_model, nhead, dim_feedforward, dropout, activation,
                                    norm_first, layer_norm_eps, batch_first, rotary, use_sdpa)
            for _ in range(num_layers))
        use_norm = norm_first if final_norm is None else final_norm
        self.norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if use_norm else None

    def new_cache(self) -> list[KVCache]:
        """Empty per-layer caches for incremental (causal) decoding."""
        return [KVCache() for _ in self.layers]

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False,
                cache: list[KVCache] | None = None) -> Tensor:
        x = src
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, src_key_padding_mask, is_causal,
                      None if cache is None else cache[i])
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(nn.Module):
    """A stack of TransformerDecoderBlock and an optional final LayerNorm (as above)."""

    def __init__(self, num_layers: int, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.0, activation: str = "relu", norm_first: bool = False,
                 layer_norm_eps: float = 1e-5, batch_first: bool = True,
                 rotary: nn.Module | None = None, use_sdpa: bool = False,
                 final_norm: bool | None = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerDecoderBlock(d_model, nhead, dim_feedforward, dropout, activation,
                                    norm_first, layer_norm_eps, batch_first, rotary, use_sdpa)
            for _ in range(num_layers))
        use_norm = norm_first if final_norm is None else final_norm
        self.norm = nn.LayerNorm(d_model, eps=layer_norm_eps) if use_norm else None

    def new_cache(self) -> list[DecoderCache]:
        """Empty per-layer caches for incremental decoding."""
        return [DecoderCache() for _ in self.layers]

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = True,
                cache: list[DecoderCache] | None = None) -> Tensor:
        x = tgt
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, tgt_is_causal, None if cache is None else cache[i])
        return x if self.norm is None else self.norm(x)
