"""Training helpers for truncated backpropagation through time (TBPTT).

A long text is cut into windows of num_steps tokens. Carrying the recurrent state from one
window to the next keeps the model's memory, while detaching it stops the gradient at the
window edge, so backward costs O(num_steps) instead of O(whole text). Clipping the global
gradient norm tames the exploding gradients that products of many Jacobians produce.
"""

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from scratchdl.errors import UserError

StateLike = Tensor | tuple | list | None


def detach_state(state: StateLike) -> StateLike:
    """The same state (a tensor, an LSTM (h, c) tuple, nested tuples/lists, or None) with its
    autograd history cut: values are kept, gradients stop here. Shapes are unchanged."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(part) for part in state)
    raise UserError(
        f"detach_state expects a tensor or a tuple/list of tensors, got {type(state).__name__}"
    )


def clip_grad_norm(
    parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0
) -> Tensor:
    """Scale all gradients by one factor so that their global norm is at most max_norm.

    The global norm treats every gradient as part of one long vector:
    total = (sum over parameters and entries of |g|^p)^(1/p), p = norm_type (inf: max |g|).
    If total > max_norm each gradient is multiplied, in place, by max_norm / (total + 1e-6)
    (torch's epsilon), which keeps the update's direction and bounds its length.
    Parameters without a gradient are skipped. Returns total before clipping, a 0-d tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    device = grads[0].device
    with torch.no_grad():
        if math.isinf(norm_type):
            per_param = [g.abs().max().to(device) for g in grads if g.numel() > 0]
            total = torch.stack(per_param).max() if per_param else torch.zeros((), device=device)
        else:
            powered = [g.abs().pow(norm_type).sum().to(device) for g in grads]
            total = torch.stack(powered).sum().pow(1.0 / norm_type)
        # clamp instead of `if`: no device-to-host sync; factor 1.0 leaves gradients as they are
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.to(g.device, g.dtype))
    return total
