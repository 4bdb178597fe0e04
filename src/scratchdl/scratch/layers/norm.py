"""Batch norm (any (N, C, ...) input, statistics per channel) and layer norm (per example).

Conventions follow torch.nn: batch norm normalizes with the biased batch variance, updates
running_mean/var in place as running = (1 - momentum) * running + momentum * batch_stat, and
stores the *unbiased* batch variance in running_var.

The course notebooks use the opposite convention: running = momentum * running +
(1 - momentum) * batch_stat with momentum = 0.9, and the biased variance in running_var. A
course value such as 0.9 passed here would make the running average almost the last batch, so
`momentum > 0.5` raises a UserError; `course_momentum=True` says the value is in the course's
convention and converts it (torch momentum = 1 - course momentum). running_var stays unbiased
either way: it differs from the course's by the factor count / (count - 1), count = values per
channel in a batch (N, or N*H*W for spatial batch norm).
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, tensor_layer


def check_momentum(momentum: float, course_momentum: bool, name: str) -> float:
    """The torch-convention momentum (weight on the new batch) to use, or a UserError.

    With `course_momentum` the value is the course's weight on the old average, converted as
    1 - momentum. Without it a value above 0.5 is refused: it almost surely is a course value.
    """
    if not isinstance(momentum, int | float) or not 0.0 <= momentum <= 1.0:
        raise UserError(f"{name}: expected momentum in [0, 1], got {momentum!r}")
    if course_momentum:
        return 1.0 - float(momentum)
    if momentum > 0.5:
        raise UserError(
            f"{name}: momentum={momentum} is the weight on the new batch here (torch's "
            f"convention), so the running stats would be almost the last batch; the course's "
            f"momentum={momentum} is {1 - momentum:.3g} here: pass momentum={1 - momentum:.3g}, "
            "or course_momentum=True to convert"
        )
    return float(momentum)


def _batch_norm_forward(
    x: Tensor,
    gamma: Tensor,
    beta: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
    name: str,
    course_momentum: bool,
) -> tuple[Tensor, Cache]:
    momentum = check_momentum(momentum, course_momentum, name)
    c = x.shape[1]
    if gamma.shape != (c,) or beta.shape != (c,):
        raise UserError(
            f"{name}: expected gamma and beta of shape ({c},) for x {tuple(x.shape)}, got "
            f"{tuple(gamma.shape)} and {tuple(beta.shape)}"
        )
    dims = [0, *range(2, x.dim())]  # every dim except the channel dim
    shape = (1, c) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector against x
    count = x.numel() // c
    if training:
        if count < 2:
            raise UserError(
                f"{name}: training needs more than one value per channel, got x {tuple(x.shape)}; "
                "use a larger batch or eval mode"
            )
        var, mean = torch.var_mean(x, dims, correction=0)  # biased: what normalizes
        if running_mean is not None and running_var is not None:
            running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
            running_var.mul_(1 - momentum).add_(var * (count / (count - 1)), alpha=momentum)
    else:
        if running_mean is None or running_var is None:
            raise UserError(f"{name}: eval mode needs running_mean and running_var, got None")
        mean, var = running_mean, running_var
    inv_std = (var + eps).rsqrt()
    xhat = (x - mean.view(shape)) * inv_std.view(shape)
    out = xhat * gamma.view(shape) + beta.view(shape)
    return out, (xhat, gamma, inv_std, training, dims, shape, count)


def _batch_norm_backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor]:
    xhat, gamma, inv_std, training, dims, shape, count = cache
    dbeta = dout.sum(dims)
    dgamma = (dout * xhat).sum(dims)
    scale = (gamma * inv_std).view(shape)
    if not training:  # the statistics are constants in eval mode
        return dout * scale, dgamma, dbeta
    # Simplified chain rule through mean and variance (all three paths at once).
    dx = (scale / count) * (count * dout - dbeta.view(shape) - xhat * dgamma.view(shape))
    return dx, dgamma, dbeta


@tensor_layer
class BatchNorm:
    """Batch norm for x (N, D) or (N, C, L), like nn.BatchNorm1d. gamma, beta: (C,).

    running_mean/running_var (C,) are updated in place in training mode (pass None to not track).
    `momentum` is torch's (weight on the new batch, default 0.1); for a course value (0.9,
    weight on the old average) pass `course_momentum=True`. See the module docstring.
    """

    @staticmethod
    def forward(
        x: Tensor,
        gamma: Tensor,
        beta: Tensor,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        training: bool = True,
        momentum: float = 0.1,
        eps: float = 1e-5,
        course_momentum: bool = False,
    ) -> tuple[Tensor, Cache]:
        if x.dim() not in (2, 3):
            raise UserError(f"BatchNorm: expected x (N, D) or (N, C, L), got {tuple(x.shape)}")
        return _batch_norm_forward(
            x,
            gamma,
            beta,
            running_mean,
            running_var,
            training,
            momentum,
            eps,
            "BatchNorm",
            course_momentum,
        )

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor]:
        """Returns dx, dgamma, dbeta."""
        return _batch_norm_backward(dout, cache)


@tensor_layer
class SpatialBatchNorm:
    """Batch norm for images x (N, C, H, W), statistics per channel over N, H, W; like
    nn.BatchNorm2d. Same arguments as BatchNorm."""

    @staticmethod
    def forward(
        x: Tensor,
        gamma: Tensor,
        beta: Tensor,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        training: bool = True,
        momentum: float = 0.1,
        eps: float = 1e-5,
        course_momentum: bool = False,
    ) -> tuple[Tensor, Cache]:
        if x.dim() != 4:
            raise UserError(f"SpatialBatchNorm: expected x (N, C, H, W), got {tuple(x.shape)}")
        return _batch_norm_forward(
            x,
            gamma,
            beta,
            running_mean,
            running_var,
            training,
            momentum,
            eps,
            "SpatialBatchNorm",
            course_momentum,
        )

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor]:
        """Returns dx, dgamma, dbeta."""
        return _batch_norm_backward(dout, cache)


@tensor_layer
class LayerNorm:
    """Normalize each example over its trailing dims, those of gamma's shape (like
    nn.LayerNorm(gamma.shape)): x (..., *S), gamma and beta (*S). Same in train and eval."""

    @staticmethod
    def forward(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> tuple[Tensor, Cache]:
        k = gamma.dim()
        trailing = tuple(x.shape[x.dim() - k :])
        if k == 0 or trailing != tuple(gamma.shape) or beta.shape != gamma.shape:
            raise UserError(
                f"LayerNorm: expected x (..., *S) with gamma and beta of shape S, got x "
                f"{tuple(x.shape)}, gamma {tuple(gamma.shape)}, beta {tuple(beta.shape)}"
            )
        dims = tuple(range(x.dim() - k, x.dim()))
        var, mean = torch.var_mean(x, dims, keepdim=True, correction=0)
        inv_std = (var + eps).rsqrt()
        xhat = (x - mean) * inv_std
        return xhat * gamma + beta, (xhat, gamma, inv_std, dims)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor]:
        """Returns dx, dgamma, dbeta."""
        xhat, gamma, inv_std, dims = cache
        lead = tuple(range(xhat.dim() - len(dims)))
        dgamma = (dout * xhat).sum(lead) if lead else dout * xhat
        dbeta = dout.sum(lead) if lead else dout.clone()
        dxhat = dout * gamma
        count = gamma.numel()
        dx = (inv_std / count) * (
            count * dxhat
            - dxhat.sum(dims, keepdim=True)
            - xhat * (dxhat * xhat).sum(dims, keepdim=True)
        )
        return dx, dgamma, dbeta
