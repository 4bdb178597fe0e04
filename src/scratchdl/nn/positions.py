"""Position information for attention, which by itself ignores order.

- SinusoidalPositions: the fixed table P[t, 2i] = sin(t / 10000^(2i/d)), P[t, 2i+1] = cos(..),
  added to the embeddings (Vaswani et al.).
- LearnedPositions: a trained table, added the same way (BERT, GPT-2).
- RotaryEmbedding: rotates each pair (x[2i], x[2i+1]) of a query/key head by the angle
  t * base^(-2i/d), so q.k depends only on the distance between positions (RoFormer, LLaMA).
All take `offset` (the number of positions already decoded, for a KV cache) and refuse a
sequence longer than their table with a one-line UserError.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError

__all__ = ["LearnedPositions", "RotaryEmbedding", "SinusoidalPositions", "sinusoidal_table"]


def _check_len(name: str, offset: int, length: int, max_len: int) -> None:
    if offset < 0 or offset + length > max_len:
        raise UserError(f"{name} has a table of {max_len} positions but positions "
                        f"{offset}..{offset + length - 1} were asked for; build it with a "
                        f"larger max_len or feed shorter sequences")


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The [max_len, d_model] sinusoid table (odd d_model: the last cos column is dropped)."""
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    freq = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : d_model // 2]
    return table.float()


class SinusoidalPositions(nn.Module):
    """x [B, T, D] -> dropout(x + P[offset : offset + T]); the table is a buffer, not trained."""

    def __init__(self, d_model: int, max_len: int = 1000, dropout: float = 0.0) -> None:
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("P", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_len("SinusoidalPositions", offset, x.shape[-2], self.max_len)
        return self.dropout(x + self.P[offset: offset + x.shape[-2]].to(x.dtype))


class LearnedPositions(nn.Module):
    """x [B, T, D] -> dropout(x + E[offset : offset + T]) with a trained table E [max_len, D]."""

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0,
                 init_std: float = 0.02) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * init_std)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_len("LearnedPositions", offset, x.shape[-2], self.max_len)
        return self.dropout(x + self.weight[offset: offset + x.shape[-2]])


class RotaryEmbedding(nn.Module):
    """Rotary position embedding for a head of even size d: x [..., T, d] -> rotated x.

    Pair i of position t turns by theta = t * base^(-2i/d):
    (a, b) -> (a cos theta - b sin theta, a sin theta + b cos theta),
    the same as multiplying the complex number a + ib by e^(i theta).
    """

    def __init__(self, head_dim: int, max_len: int = 4096, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise UserError(f"RotaryEmbedding needs an even head_dim (it rotates pairs), got "
                            f"{head_dim}")
        self.head_dim, self.max_len = head_dim, max_len
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.arange(max_len, dtype=torch.float64)[:, None] * inv_freq  # [T, d/2]
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        T = x.shape[-2]
        if x.shape[-1] != self.head_dim:
            raise UserError(f"RotaryEmbedding was built for head_dim={self.head_dim}, got "
                            f"inputs of size {x.shape[-1]}")
        _check_len("RotaryEmbedding", offset, T, self.max_len)
        cos = self.cos[offset: offset + T].to(x.dtype)
        sin = self.sin[offset: offset + T].to(x.dtype)
        a, b = x[..., 0::2], x[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)
