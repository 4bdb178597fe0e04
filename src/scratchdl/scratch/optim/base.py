"""The shared wrapper: a torch.optim.Optimizer whose update is a pure function on tensor lists.

Each optimizer file holds one pure `*_update(params, grads, state lists..., *, hyperparams)`
that changes tensors in place with torch._foreach_* ops (one kernel launch per op for a
whole list of tensors, no Python loop over elements), and a thin subclass of
`ScratchOptimizer` that keeps the per-parameter state and calls it.

Subclassing torch.optim.Optimizer buys param groups, zero_grad, state_dict/load_state_dict
and compatibility with every torch LR scheduler. Per-parameter state holds only tensors and
Python ints, so a state dict saved with torch.save loads with torch.load(weights_only=True).
Not supported (torch has them): complex parameters, sparse gradients, `maximize`,
`capturable`, `differentiable`, `fused`.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import is_numpy, numpy_hint


def check_number(
    name: str,
    value: Any,
    low: float = 0.0,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return `value` as float if it is a finite real number in the interval, else UserError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise UserError(f"{name} must be in {interval}, got {value!r}; pass a value in range")
    return value


def group_by_device_and_dtype(tensors: Sequence[Tensor]) -> list[list[int]]:
    """Indices of `tensors` split so each part shares one device and dtype.

    foreach kernels only take their fast (fused, multi-tensor) path on such lists.
    """
    parts: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(tensors):
        parts.setdefault((t.device, t.dtype), []).append(i)
    return list(parts.values())


class ScratchOptimizer(torch.optim.Optimizer):
    """Base class: validates hyperparameters, collects (param, grad) pairs, delegates the update.

    Subclasses define `check_hyperparams(group)` (raise UserError on bad values) and
    `update_group(group, params, grads)` (update the given params in place).
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if is_numpy(params):
            raise UserError(numpy_hint(type(self).__name__, "params"))
        if isinstance(params, Tensor):
            raise UserError(
                "params must be an iterable of tensors or param-group dicts, got one Tensor; "
                "wrap it in a list: [tensor]"
            )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        params = param_group.get("params")
        if is_numpy(params) or (
            isinstance(params, list | tuple) and any(is_numpy(p) for p in params)
        ):
            raise UserError(numpy_hint(type(self).__name__, "params"))
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self.check_hyperparams(group)
        for p in group["params"]:
            if not p.is_floating_point():
                raise UserError(
                    f"optimizer parameters must be real floating-point tensors, got {p.dtype}; "
                    "complex and integer parameters are not supported"
                )

    def check_hyperparams(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def update_group(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]
    ) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a `.grad` (torch.optim semantics)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        explicit = getattr(self, "_explicit_grads", None)  # set by apply_gradients
        for i, group in enumerate(self.param_groups):
            if explicit is None:
                pairs = [(p, p.grad) for p in group["params"] if p.grad is not None]
            else:
                pairs = explicit[i]
            self._update_checked(group, [p for p, _ in pairs], [g for _, g in pairs])
        return loss

    def apply_gradients(self, grads: Sequence[Tensor | None]) -> None:
        """One update from explicit gradients, one per parameter in param-group order.

        None skips that parameter (like a missing .grad). `.grad` is neither read nor written.
        Goes through step(), so step hooks and LR schedulers see it like any other step.
        """
        all_params = [p for group in self.param_groups for p in group["params"]]
        if len(grads) != len(all_params):
            raise UserError(
                f"apply_gradients expected {len(all_params)} gradients (one per parameter), "
                f"got {len(grads)}"
            )
        for p, g in zip(all_params, grads, strict=True):
            if is_numpy(g):
                raise UserError(numpy_hint("apply_gradients", "grads"))
            if g is not None and (g.shape != p.shape or g.dtype != p.dtype or g.device != p.device):
                raise UserError(
                    f"gradient must match its parameter: expected {tuple(p.shape)} {p.dtype} "
                    f"on {p.device}, got {tuple(g.shape)} {g.dtype} on {g.device}"
                )
        per_group, start = [], 0
        for group in self.param_groups:
            group_grads = grads[start : start + len(group["params"])]
            start += len(group["params"])
            pairs = zip(group["params"], group_grads, strict=True)
            per_group.append([(p, g) for p, g in pairs if g is not None])
        self._explicit_grads = per_group
        try:
            self.step()
        finally:
            self._explicit_grads = None

    def _update_checked(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]
    ) -> None:
        if not params:
            return
        if any(g.is_sparse for g in grads):
            raise UserError("sparse gradients are not supported; use dense gradients")
        # A scheduler or the user may have changed group values since construction.
        self.check_hyperparams(group)
        for part in group_by_device_and_dtype(params):
            self.update_group(group, [params[i] for i in part], [grads[i] for i in part])
