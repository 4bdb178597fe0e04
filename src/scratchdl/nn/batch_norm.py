"""Batch normalization (Ioffe & Szegedy, 2015) on autograd: a drop-in twin of nn.BatchNorm1d/2d.

The course-style layer with a hand-written backward pass is scratchdl.scratch.layers.BatchNorm;
this one lets autograd differentiate the same formulas, so it trains inside any nn.Module
(BN-LeNet's `impl="scratch"`).
"""

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.scratch.layers.norm import check_momentum


class AutogradBatchNorm(nn.Module):
    """Batch norm over (N, C) or (N, C, H, W), per channel, matching nn.BatchNorm1d/2d.

    Training normalizes with the batch mean and biased variance and updates the running
    stats as running = (1 - momentum) * running + momentum * batch_stat, storing the
    unbiased variance (torch's convention); eval normalizes with the running stats.
    `momentum` is the weight on the new batch; `course_momentum=True` reads it in the course's
    opposite convention (weight on the old average) and converts it, see `check_momentum`.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        course_momentum: bool = False,
    ):
        super().__init__()
        self.eps = eps
        self.momentum = check_momentum(momentum, course_momentum, "AutogradBatchNorm")
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.gamma.numel()
        if x.dim() not in (2, 4) or x.shape[1] != c:
            raise UserError(
                f"AutogradBatchNorm: expected (N, {c}) or (N, {c}, H, W), got {tuple(x.shape)}"
            )
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        shape = (1, c) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector against x
        if self.training:
            count = x.numel() // c
            if count < 2:
                raise UserError(
                    f"AutogradBatchNorm: training needs > 1 value per channel, got {x.shape}"
                )
            mean, var = x.mean(dims), x.var(dims, correction=0)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * count / (count - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.gamma.view(shape) * x_hat + self.beta.view(shape)
