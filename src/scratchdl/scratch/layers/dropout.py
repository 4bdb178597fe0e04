"""Inverted dropout: zero each activation with probability p and scale survivors by 1/(1-p),
so the expected activation is unchanged and eval mode is the identity."""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, tensor_layer


@tensor_layer
class Dropout:
    @staticmethod
    def forward(
        x: Tensor, p: float = 0.5, training: bool = True, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Cache]:
        """x any shape; p the drop probability; pass a seeded `generator` for a repeatable mask."""
        if not 0.0 <= p <= 1.0:
            raise UserError(f"Dropout: expected a drop probability p in [0, 1], got {p}")
        if not training or p == 0.0:
            return x, (None,)
        if p == 1.0:
            mask = torch.zeros_like(x)
        else:
            keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= p
            mask = keep.to(x.dtype) / (1.0 - p)
        return x * mask, (mask,)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        (mask,) = cache
        return dout if mask is None else dout * mask
