"""Drive an optimizer with dicts of tensors: the hand-written layers' world (no autograd).

params = {"W1": W1, "b1": b1, ...}          # the model's own tensors, updated in place
opt = DictOptimizer(Adam, params, lr=1e-3)
loss, grads = model.loss(X, y)              # grads: same keys, same shapes
opt.step(grads)
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import is_numpy, numpy_hint
from scratchdl.scratch.optim.base import ScratchOptimizer


class DictOptimizer:
    """Wrap `optimizer_cls(list(params.values()), **hyperparams)` behind a dict interface.

    `optimizer_cls` is any torch.optim.Optimizer subclass (ours or torch's own). The wrapped
    optimizer is `.optimizer`: hand it to LR schedulers; its state_dict is ours.
    """

    def __init__(
        self,
        optimizer_cls: type[torch.optim.Optimizer],
        params: Mapping[str, Tensor],
        **hyperparams,
    ) -> None:
        if not isinstance(params, Mapping) or not params:
            raise UserError(
                f"params must be a non-empty dict name -> Tensor, got {type(params).__name__}"
            )
        for name, p in params.items():
            if is_numpy(p):
                raise UserError(numpy_hint("DictOptimizer", f"params[{name!r}]"))
            if not isinstance(p, Tensor) or not p.is_floating_point():
                got = p.dtype if isinstance(p, Tensor) else type(p).__name__
                raise UserError(f"params[{name!r}] must be a floating-point Tensor, got {got}")
        self.params = params
        self.names = list(params)
        self._tensors = list(params.values())
        self.optimizer = optimizer_cls(self._tensors, **hyperparams)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def step(self, grads: Mapping[str, Tensor]) -> None:
        """One update; `grads` has exactly the keys of `params`, each grad shaped like its param."""
        missing = [n for n in self.names if n not in grads]
        unexpected = [n for n in grads if n not in self.params]
        if missing or unexpected:
            raise UserError(
                f"grads must have the same keys as params: missing {missing}, "
                f"unexpected {unexpected}"
            )
        for name, p in zip(self.names, self._tensors, strict=True):
            if self.params.get(name) is not p:
                raise UserError(
                    f"params[{name!r}] was replaced by a new tensor after the optimizer was built; "
                    "update tensors in place or build a new optimizer"
                )
            g = grads[name]
            if is_numpy(g):
                raise UserError(numpy_hint("DictOptimizer.step", f"grads[{name!r}]"))
            if not isinstance(g, Tensor) or g.shape != p.shape or g.dtype != p.dtype:
                got = f"{tuple(g.shape)} {g.dtype}" if isinstance(g, Tensor) else type(g).__name__
                raise UserError(
                    f"grads[{name!r}] must match params[{name!r}]: expected "
                    f"{tuple(p.shape)} {p.dtype}, got {got}"
                )
            if g.device != p.device:
                raise UserError(
                    f"grads[{name!r}] is on {g.device} but params[{name!r}] is on {p.device}; "
                    "move them to one device"
                )
        ordered = [grads[n] for n in self.names]
        if isinstance(self.optimizer, ScratchOptimizer):
            self.optimizer.apply_gradients(ordered)
            return
        for p, g in zip(self._tensors, ordered, strict=True):  # torch's optimizers read .grad
            p.grad = g
        try:
            self.optimizer.step()
        finally:
            for p in self._tensors:
                p.grad = None

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state_dict)
