"""AdaGrad (Duchi et al., 2011) as torch.optim.Adagrad defines it.

g   = grad + weight_decay * p
s   = s + g * g                                 (running sum of squared gradients)
clr = lr / (1 + (t - 1) * lr_decay)             (t = this parameter's step count, from 1)
p   = p - clr * g / (sqrt(s) + eps)
"""

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from scratchdl.scratch.optim.base import ScratchOptimizer, check_number


def adagrad_update(
    params: list[Tensor],
    grads: list[Tensor],
    sums: list[Tensor],
    steps: list[int],
    *,
    lr: float,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
) -> None:
    """Update `params` and `sums` in place. `steps[i]` is parameter i's step count, already
    including this step (1 on the first update). Shapes: each grad/sum like its parameter."""
    owns_grads = weight_decay != 0  # then `grads` is our own copy and may be overwritten
    if owns_grads:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_addcmul_(sums, grads, grads, value=1)
    std = torch._foreach_sqrt(sums)
    torch._foreach_add_(std, eps)
    minus_clr = [-lr / (1 + (t - 1) * lr_decay) for t in steps]
    if owns_grads:
        torch._foreach_mul_(grads, minus_clr)
        numerator = grads
    else:
        numerator = torch._foreach_mul(grads, minus_clr)
    torch._foreach_addcdiv_(params, numerator, std)


class Adagrad(ScratchOptimizer):
    """AdaGrad: per-coordinate step sizes shrinking with the accumulated squared gradient."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps,
        )  # fmt: skip
        super().__init__(params, defaults)

    def check_hyperparams(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("lr_decay", group["lr_decay"])
        check_number("weight_decay", group["weight_decay"])
        check_number("initial_accumulator_value", group["initial_accumulator_value"])
        check_number("eps", group["eps"])

    def update_group(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]
    ) -> None:
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["sum"] = torch.full_like(
                    p, group["initial_accumulator_value"], memory_format=torch.preserve_format
                )
            state["step"] += 1
        adagrad_update(
            params, grads,
            [self.state[p]["sum"] for p in params], [self.state[p]["step"] for p in params],
            lr=group["lr"], lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
            eps=group["eps"],
        )  # fmt: skip
