"""Saliency maps: which input pixels move a class score (Simonyan et al. 2014; SmoothGrad,
Smilkov et al. 2017; integrated gradients, Sundararajan et al. 2017).

All take a model (images -> class scores), a batch x [N, C, H, W] and a target class (one int
or one per image) and return attributions of x's shape. Twins: captum.attr Saliency,
NoiseTunnel(Saliency) and IntegratedGradients (tests/explain/test_saliency.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain._common import check_images, score_gradient, targets

IG_METHODS = (
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "riemann_trapezoid",
    "gausslegendre",
)


def vanilla_gradient(
    model: nn.Module, x: torch.Tensor, target: int | torch.Tensor, *, abs: bool = True
) -> torch.Tensor:
    """|d score_target / d x| (the raw gradient with abs=False)."""
    check_images(x)
    grad = score_gradient(model, x, targets(target, len(x), x.device))
    return grad.abs() if abs else grad


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: int | torch.Tensor,
    *,
    samples: int = 25,
    stdev: float = 0.15,
    abs: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean of the saliency over `samples` noisy copies x + N(0, stdev^2).

    stdev is in x's units. Noise is drawn in one call of shape [N * samples, C, H, W], example
    by example (sample-major inside an example), as captum's NoiseTunnel does, so the same
    torch seed gives the same draws.
    """
    check_images(x)
    if samples < 1 or stdev < 0:
        raise UserError(f"smoothgrad: expected samples >= 1 and stdev >= 0, got {samples}, {stdev}")
    n = len(x)
    shape = (n * samples, *x.shape[1:])
    noise = torch.normal(0.0, torch.full(shape, float(stdev), device=x.device), generator=generator)
    noisy = x.detach().repeat_interleave(samples, dim=0) + noise.to(x.dtype)
    tgt = targets(target, n, x.device).repeat_interleave(samples)
    grad = score_gradient(model, noisy, tgt)
    grad = grad.abs() if abs else grad
    return grad.view(n, samples, *x.shape[1:]).mean(dim=1)


def ig_coefficients(steps: int, method: str = "gausslegendre") -> tuple[list[float], list[float]]:
    """(step sizes, alphas) of the path integral's quadrature; the sizes sum to 1."""
    if method not in IG_METHODS:
        raise UserError(f"method: expected one of {', '.join(IG_METHODS)}, got {method!r}")
    if method == "gausslegendre":
        if steps < 1:
            raise UserError(f"steps: expected >= 1 for gausslegendre, got {steps}")
        nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]: rescale to [0, 1]
        return (0.5 * weights).tolist(), (0.5 * (1 + nodes)).tolist()
    if steps < 2:
        raise UserError(f"steps: expected >= 2 for {method}, got {steps}")
    sizes = [1 / steps] * steps
    if method == "riemann_trapezoid":
        sizes[0] /= 2
        sizes[-1] /= 2
        alphas = torch.linspace(0, 1, steps)
    elif method == "riemann_left":
        alphas = torch.linspace(0, 1 - 1 / steps, steps)
    elif method == "riemann_middle":
        alphas = torch.linspace(1 / (2 * steps), 1 - 1 / (2 * steps), steps)
    else:
        alphas = torch.linspace(1 / steps, 1, steps)
    return sizes, alphas.tolist()  # float32 linspace, as captum, so the twin matches exactly


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: int | torch.Tensor,
    *,
    baseline: torch.Tensor | float = 0.0,
    steps: int = 50,
    method: str = "gausslegendre",
    batch_size: int = 0,
) -> torch.Tensor:
    """(x - baseline) * integral_0^1 grad score(baseline + a (x - baseline)) da.

    The attributions sum to score(x) - score(baseline) up to the quadrature error. All
    steps x N points go through the model at once, or `batch_size` points at a time.
    """
    check_images(x)
    sizes, alphas = ig_coefficients(steps, method)
    x = x.detach()
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
    n = len(x)
    tgt = targets(target, n, x.device)
    path = torch.cat([base + a * (x - base) for a in alphas], dim=0)  # alpha-major
    tgt_path = tgt.repeat(len(alphas))
    chunk = batch_size if batch_size > 0 else len(path)
    grads = torch.cat(
        [
            score_gradient(model, path[i : i + chunk], tgt_path[i : i + chunk])
            for i in range(0, len(path), chunk)
        ]
    )
    w = torch.tensor(sizes).float().to(grads.dtype).to(x.device)  # captum rounds sizes to float32
    weighted = grads.view(len(alphas), n, *x.shape[1:]) * w.view(-1, *([1] * x.ndim))
    total = weighted.sum(dim=0)
    return total * (x - base)
