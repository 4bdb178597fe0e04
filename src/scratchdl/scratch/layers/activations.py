"""Element-wise activations: ReLU, leaky ReLU, PReLU, ELU, SELU, sigmoid, tanh.

Each forward returns (out, cache); each backward takes (dout, cache) and returns dx
(PReLU also returns the gradient of its slope). At a kink (x == 0) the gradient is the one
of the x <= 0 side, as in PyTorch.
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, tensor_layer

# SELU's constants from Klambauer et al. (2017), the same digits torch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@tensor_layer
class ReLU:
    @staticmethod
    def forward(x: Tensor) -> tuple[Tensor, Cache]:
        return x.clamp_min(0), (x,)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        (x,) = cache
        return dout * (x > 0)


@tensor_layer
class LeakyReLU:
    @staticmethod
    def forward(x: Tensor, negative_slope: float = 0.01) -> tuple[Tensor, Cache]:
        return torch.where(x > 0, x, negative_slope * x), (x, negative_slope)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        x, negative_slope = cache
        return torch.where(x > 0, dout, negative_slope * dout)


@tensor_layer
class PReLU:
    """Leaky ReLU with a learned slope `a`: shape (1,) shared, or (C,) one per channel (dim 1)."""

    @staticmethod
    def _slope_view(x: Tensor, a: Tensor) -> Tensor:
        if a.dim() != 1 or (a.numel() != 1 and (x.dim() < 2 or a.numel() != x.shape[1])):
            raise UserError(
                f"PReLU: expected slope of shape (1,) or (C,) with C = x.shape[1], got slope "
                f"{tuple(a.shape)} for x {tuple(x.shape)}"
            )
        if a.numel() == 1:
            return a.reshape(())
        return a.reshape(1, -1, *([1] * (x.dim() - 2)))

    @staticmethod
    def forward(x: Tensor, a: Tensor) -> tuple[Tensor, Cache]:
        slope = PReLU._slope_view(x, a)
        return torch.where(x > 0, x, slope * x), (x, a)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor]:
        """Returns dx (like x) and da (like a)."""
        x, a = cache
        slope = PReLU._slope_view(x, a)
        dx = torch.where(x > 0, dout, slope * dout)
        da_elems = torch.where(x > 0, torch.zeros_like(x), x * dout)
        if a.numel() == 1:
            da = da_elems.sum().reshape(1)
        else:
            da = da_elems.sum([d for d in range(x.dim()) if d != 1])
        return dx, da


@tensor_layer
class ELU:
    @staticmethod
    def forward(x: Tensor, alpha: float = 1.0) -> tuple[Tensor, Cache]:
        # expm1 keeps precision for small negative x; clamp so exp never sees large positives.
        out = torch.where(x > 0, x, alpha * torch.expm1(x.clamp_max(0)))
        return out, (x, alpha)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        x, alpha = cache
        return torch.where(x > 0, dout, dout * alpha * torch.exp(x.clamp_max(0)))


@tensor_layer
class SELU:
    """scale * ELU(x, alpha) with the self-normalizing constants."""

    @staticmethod
    def forward(x: Tensor) -> tuple[Tensor, Cache]:
        out, cache = ELU.forward(x, SELU_ALPHA)
        return SELU_SCALE * out, cache

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        return ELU.backward(SELU_SCALE * dout, cache)


@tensor_layer
class Sigmoid:
    @staticmethod
    def forward(x: Tensor) -> tuple[Tensor, Cache]:
        # Stable form: exp only of -|x|, so it never overflows.
        e = torch.exp(-x.abs())
        out = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return out, (out,)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        (out,) = cache
        return dout * out * (1 - out)


@tensor_layer
class Tanh:
    @staticmethod
    def forward(x: Tensor) -> tuple[Tensor, Cache]:
        # tanh(x) = sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|}), stable for any x.
        e = torch.exp(-2 * x.abs())
        out = torch.sign(x) * (-torch.expm1(-2 * x.abs())) / (1 + e)
        return out, (out,)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        (out,) = cache
        return dout * (1 - out * out)
