"""Shared checks and the one gradient helper of the explain package."""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.errors import UserError


def check_images(x: torch.Tensor, name: str = "x") -> None:
    """A float batch [N, C, H, W], else a one-line UserError."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"{name}: expected a float image batch [N, C, H, W], got {got}")


def targets(target: int | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    """A class index per example: an int applies to all, a tensor must have n entries."""
    t = torch.as_tensor(target, device=device).long().flatten()
    if t.numel() == 1:
        return t.expand(n)
    if t.numel() != n:
        raise UserError(f"target: expected one class or {n} (one per image), got {t.numel()}")
    return t


def score_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d(sum_i model(x)[i, target_i]) / dx: each example's own class score gradient."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x)
        picked = scores.gather(1, target.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(picked, x)
    return grad
