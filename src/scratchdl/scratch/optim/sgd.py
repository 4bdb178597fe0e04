"""Stochastic gradient descent, with optional (Nesterov) momentum, as torch.optim.SGD defines it.

g = grad + weight_decay * p                    (L2 penalty folded into the gradient)
b = g                        on the first step
b = momentum * b + (1 - dampening) * g         afterwards
d = g + momentum * b  if nesterov  else  b     (d = g when momentum == 0)
p = p - lr * d
"""

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.optim.base import ScratchOptimizer, check_number


def sgd_update(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> None:
    """Update `params` in place; fill None entries of `momentum_buffers` with new buffers.

    All lists have one entry per parameter; each grad and buffer has its parameter's shape.
    """
    if weight_decay != 0:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum != 0:
        if any(b is None for b in momentum_buffers):
            # First step: the buffer starts as the gradient itself (no dampening), like torch.
            for i, b in enumerate(momentum_buffers):
                if b is None:
                    momentum_buffers[i] = grads[i].detach().clone()
                else:
                    b.mul_(momentum).add_(grads[i], alpha=1 - dampening)
        else:
            torch._foreach_mul_(momentum_buffers, momentum)
            torch._foreach_add_(momentum_buffers, grads, alpha=1 - dampening)
        buffers: list[Tensor] = momentum_buffers  # type: ignore[assignment]
        if nesterov:
            # Out of place: `grads` may be the caller's .grad tensors.
            grads = torch._foreach_add(grads, buffers, alpha=momentum)
        else:
            grads = buffers
    torch._foreach_add_(params, grads, alpha=-lr)


class SGD(ScratchOptimizer):
    """SGD; `momentum > 0` gives heavy-ball momentum, add `nesterov=True` for Nesterov."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov,
        )  # fmt: skip
        super().__init__(params, defaults)

    def check_hyperparams(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("momentum", group["momentum"])
        check_number("dampening", group["dampening"], 0.0, 1.0)
        check_number("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise UserError(
                "nesterov=True needs momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def update_group(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]
    ) -> None:
        buffers = [self.state[p].get("momentum_buffer") for p in params]
        sgd_update(
            params, grads, buffers,
            lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
            nesterov=group["nesterov"], weight_decay=group["weight_decay"],
        )  # fmt: skip
        if group["momentum"] != 0:
            for p, b in zip(params, buffers, strict=True):
                self.state[p]["momentum_buffer"] = b
