"""Numeric gradients by central differences, to check hand-written backward passes.

Use float64. The default step h = 1e-5 balances the two errors of (f(x + h) - f(x - h)) / 2h:
rounding, about 1e-16 |f| / h, and truncation, about h^2 |f'''|; both stay far below the 1e-6
relative error the checks demand.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from scratchdl.errors import UserError


def numeric_gradient(f: Callable[[], float | Tensor], x: Tensor, h: float = 1e-5) -> Tensor:
    """d f() / d x for a scalar f that reads x, by nudging each element of x in place.

    x is restored after each nudge. Returns a tensor shaped like x.
    """
    if not x.is_contiguous():
        raise UserError(
            "numeric_gradient: expected a contiguous x to nudge in place; pass x.contiguous()"
        )
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)  # views: writes go into x itself
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        plus = float(f())
        flat_x[i] = old - h
        minus = float(f())
        flat_x[i] = old
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def numeric_gradient_array(
    f: Callable[[], Tensor], x: Tensor, dout: Tensor, h: float = 1e-5
) -> Tensor:
    """d sum(f() * dout) / d x for a tensor-valued f: what backward(dout) should return for x.

    The two nudged outputs are subtracted element-wise before weighting by dout, so outputs
    that x[i] does not touch cancel exactly and add no rounding error.
    """
    if not x.is_contiguous():
        raise UserError(
            "numeric_gradient_array: expected a contiguous x to nudge in place; pass x.contiguous()"
        )
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        plus = f().clone()  # clone: f may return a view of its input
        flat_x[i] = old - h
        minus = f().clone()
        flat_x[i] = old
        flat_grad[i] = ((plus - minus) * dout).sum() / (2 * h)
    return grad


def rel_error(a: Tensor, b: Tensor) -> float:
    """Max element-wise relative error |a - b| / max(1e-8, |a| + |b|), as in the course."""
    if a.shape != b.shape:
        raise UserError(
            f"rel_error: expected two tensors of one shape, got {a.shape} and {b.shape}"
        )
    a, b = a.double(), b.double()
    return ((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max().item()


def backward_errors(
    forward: Callable[[], Tensor],
    inputs: Sequence[Tensor],
    dout: Tensor,
    grads: Sequence[Tensor],
    h: float = 1e-5,
) -> list[float]:
    """Check a layer's backward: for each input, rel_error between the analytic gradient in
    `grads` and the numeric gradient of sum(forward() * dout), where forward() reads inputs."""
    return [
        rel_error(numeric_gradient_array(forward, x, dout, h), g)
        for x, g in zip(inputs, grads, strict=True)
    ]
