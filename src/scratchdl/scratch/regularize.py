"""Regularizers from scratch: L1/L2 penalties, DropConnect, stochastic depth, cutout, mixup.

Every random piece takes an optional `torch.Generator`; None means torch's global generator, so
`torch.manual_seed` makes it reproducible too. Image batches are NCHW.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError

# ----------------------------------------------------------------------------- weight penalties


def decay_parameters(module: nn.Module, skip_bias_and_norm: bool = True) -> Iterator[nn.Parameter]:
    """The parameters a penalty should act on.

    With `skip_bias_and_norm`, 1-D parameters are left out: biases and the scale/shift of norm
    layers (penalizing them only fights the normalization). Weights of linear, conv and
    embedding layers are kept.
    """
    for p in module.parameters():
        if p.requires_grad and not (skip_bias_and_norm and p.ndim <= 1):
            yield p


def l1_penalty(module: nn.Module, skip_bias_and_norm: bool = True) -> torch.Tensor:
    """sum |w| over `decay_parameters(module)`; differentiable, multiply by the strength."""
    terms = [p.abs().sum() for p in decay_parameters(module, skip_bias_and_norm)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def l2_penalty(module: nn.Module, skip_bias_and_norm: bool = True) -> torch.Tensor:
    """sum w^2 over `decay_parameters(module)` (no 1/2 factor); multiply by the strength."""
    terms = [p.pow(2).sum() for p in decay_parameters(module, skip_bias_and_norm)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def elastic_net_penalty(
    module: nn.Module,
    reg: float,
    l1_ratio: float = 0.0,
    skip_bias_and_norm: bool = True,
    l2_half: bool = False,
) -> torch.Tensor:
    """reg * (l1_ratio * L1 + (1 - l1_ratio) * L2), the same convention as scratch.linear and
    the hand-written nets; `l2_half` halves the L2 term (0.5 * reg * sum w^2, torch's
    weight_decay=reg)."""
    if reg < 0 or not 0.0 <= l1_ratio <= 1.0:
        raise UserError(f"expected reg >= 0 and l1_ratio in [0, 1], got {reg} and {l1_ratio}")
    l1 = l1_penalty(module, skip_bias_and_norm) if l1_ratio > 0 else 0.0
    l2 = l2_penalty(module, skip_bias_and_norm) if l1_ratio < 1 else 0.0
    half = 0.5 if l2_half else 1.0
    return reg * (l1_ratio * l1 + half * (1.0 - l1_ratio) * l2)


def _check_prob(p: float, name: str = "p") -> None:
    if not 0.0 <= p < 1.0:
        raise UserError(f"{name} (drop probability) must be in [0, 1), got {p}")


# ----------------------------------------------------------------------------- DropConnect


class DropConnectLinear(nn.Linear):
    """A Linear layer whose weights (not activations) are dropped during training.

    Train: y = x @ (W * M / (1 - p)).T + b with M ~ Bernoulli(1 - p), one mask per forward call
    (shared by the batch; the paper draws one per example, which costs a weight copy each).
    Dividing by 1 - p keeps E[y] equal to the eval output. Eval: plain F.linear. The bias is kept.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias)
        _check_prob(p)
        self.p = p
        self.generator = generator

    def weight_mask(self) -> torch.Tensor:
        """Draw a keep mask of the weight's shape (1 = keep) from `self.generator`."""
        keep = torch.empty_like(self.weight, requires_grad=False)
        return keep.bernoulli_(1.0 - self.p, generator=self.generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise UserError(
                f"DropConnectLinear expects inputs (..., {self.in_features}), got {tuple(x.shape)}"
            )
        if not self.training or self.p == 0.0:
            return F.linear(x, self.weight, self.bias)
        weight = self.weight * self.weight_mask() / (1.0 - self.p)
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


# ----------------------------------------------------------------------------- stochastic depth


def stochastic_depth(
    x: torch.Tensor, p: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Drop whole samples of a residual branch output (N, ...) with probability p.

    Each sample survives with probability 1 - p and survivors are scaled by 1 / (1 - p), so the
    expectation is unchanged; identity in eval. Use as `x + stochastic_depth(branch(x), p)`.
    Draws the (N, 1, ..., 1) mask with `bernoulli_` exactly as torchvision's mode="row" does,
    so the same seed gives the same mask.
    """
    if not 0.0 <= p <= 1.0:
        raise UserError(f"stochastic depth drop probability must be in [0, 1], got {p}")
    if x.ndim < 1:
        raise UserError("stochastic_depth expects a batch (N, ...), got a 0-d tensor")
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
    mask.bernoulli_(survival, generator=generator)
    if survival > 0.0:
        mask.div_(survival)
    return x * mask


class StochasticDepth(nn.Module):
    """Module form of `stochastic_depth`; follows `self.training`."""

    def __init__(self, p: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise UserError(f"stochastic depth drop probability must be in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ----------------------------------------------------------------------------- cutout


def _check_images(x: torch.Tensor, what: str) -> None:
    if x.ndim != 4:
        raise UserError(f"{what} expects an image batch (N, C, H, W), got shape {tuple(x.shape)}")


def sample_cutout_centers(
    n: int, height: int, width: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n, 2) integer (row, col) centres, uniform over the image (squares may hang off the edge,
    as in DeVries & Taylor 2017)."""
    rows = torch.randint(0, height, (n,), generator=generator)
    cols = torch.randint(0, width, (n,), generator=generator)
    return torch.stack([rows, cols], dim=1)


def cutout_mask(centers: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """(N, 2) centres -> (N, 1, H, W) bool mask, True inside each size x size square.

    The square spans rows [cy - size // 2, cy - size // 2 + size), clipped to the image.
    """
    top = centers[:, 0] - size // 2
    left = centers[:, 1] - size // 2
    r = torch.arange(height, device=centers.device)
    c = torch.arange(width, device=centers.device)
    in_rows = (r[None, :] >= top[:, None]) & (r[None, :] < top[:, None] + size)  # (N, H)
    in_cols = (c[None, :] >= left[:, None]) & (c[None, :] < left[:, None] + size)  # (N, W)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random size x size square per image of an (N, C, H, W) batch (all channels)."""
    _check_images(x, "cutout")
    if size < 1:
        raise UserError(f"cutout size must be a positive integer, got {size}")
    n, _, h, w = x.shape
    centers = sample_cutout_centers(n, h, w, generator).to(x.device)
    return x.masked_fill(cutout_mask(centers, size, h, w), 0.0)


# ----------------------------------------------------------------------------- mixup


def sample_beta(alpha: float, generator: torch.Generator | None = None) -> float:
    """One draw of Beta(alpha, alpha) as G1 / (G1 + G2) with G ~ Gamma(alpha, 1).

    torch.distributions cannot take a generator; the gamma sampler underneath it can.
    """
    gammas = torch._standard_gamma(torch.full((2,), float(alpha)), generator=generator)
    total = gammas.sum().item()
    if total == 0.0:  # both underflowed (tiny alpha): Beta is then a coin flip between 0 and 1
        return float(torch.randint(0, 2, (), generator=generator).item())
    return gammas[0].item() / total


def mixup(
    x: torch.Tensor,
    y: torch.Tensor,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, float]]:
    """Mix each example with a random partner of the same batch (Zhang et al. 2018).

    x (N, ...), y (N,) -> (lam * x + (1 - lam) * x[perm], (y, y[perm], lam)) with one
    lam ~ Beta(alpha, alpha) per batch. Train with `mixup_loss(logits, y_a, y_b, lam)`.
    """
    if alpha <= 0 or not math.isfinite(alpha):
        raise UserError(f"mixup alpha must be a positive number, got {alpha}")
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise UserError(
            f"mixup expects x (N, ...) and y (N, ...) with the same N, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    lam = sample_beta(alpha, generator)
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    mixed = lam * x + (1.0 - lam) * x[perm]
    return mixed, (y, y[perm], lam)


def mixup_loss(
    logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float
) -> torch.Tensor:
    """lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b), both means over the batch."""
    return lam * F.cross_entropy(logits, y_a) + (1.0 - lam) * F.cross_entropy(logits, y_b)
