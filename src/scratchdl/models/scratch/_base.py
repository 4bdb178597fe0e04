"""What every hand-written net shares: parameter and buffer dicts, train/eval mode, dtype,
seeded initialization, input checks and the L2 penalty.

L2 convention (the same in scratch.linear and scratch.regularize): the penalty is
`reg * sum(W^2)` with gradient `2 * reg * W`. The course's nets use `0.5 * reg * sum(W^2)`
(gradient `reg * W`, what torch's weight_decay=reg does); `l2_half=True` selects that one.
"""

import math
from typing import Self

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import is_numpy, numpy_hint

Shape = tuple[int, int, int]  # (C, H, W) of one input image


class ScratchNet:
    """A net as in the course: `params` (name -> tensor), `loss(x, y)` returning
    (loss, grads) with grads keyed like params, and scores when y is None.

    `buffers` holds non-learned state (batch-norm running statistics). The seeded
    `generator` draws the initial weights and, later, the dropout masks. `l2_half` picks the
    course's 0.5 * reg * sum(W^2) penalty instead of reg * sum(W^2) (module docstring).
    """

    def __init__(
        self,
        num_classes: int,
        reg: float,
        dtype: torch.dtype,
        device: str,
        seed: int,
        l2_half: bool = False,
    ):
        if dtype not in (torch.float32, torch.float64):
            raise UserError(f"expected dtype torch.float32 or torch.float64, got {dtype}")
        if reg < 0:
            raise UserError(f"expected a regularization strength reg >= 0, got {reg}")
        self.num_classes = num_classes
        self.reg = reg
        self.l2_half = l2_half
        self.dtype = dtype
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.params: dict[str, Tensor] = {}
        self.buffers: dict[str, Tensor] = {}
        self.training = True

    def train(self, mode: bool = True) -> Self:
        """Training mode: batch statistics in batch norm, dropout on."""
        self.training = mode
        return self

    def eval(self) -> Self:
        """Eval mode: running statistics in batch norm, dropout off."""
        return self.train(False)

    def weight(self, shape: tuple[int, ...], fan_in: int, weight_scale: float | None) -> Tensor:
        """Gaussian weights with std `weight_scale`, or Kaiming's sqrt(2 / fan_in) when None."""
        std = math.sqrt(2.0 / fan_in) if weight_scale is None else weight_scale
        return std * torch.randn(
            shape, generator=self.generator, dtype=self.dtype, device=self.device
        )

    def zeros(self, size: int) -> Tensor:
        return torch.zeros(size, dtype=self.dtype, device=self.device)

    def ones(self, size: int) -> Tensor:
        return torch.ones(size, dtype=self.dtype, device=self.device)

    def check_inputs(
        self, x: Tensor, y: Tensor | None, example_shape: tuple[int, ...], flatten: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Check x is (N, *example_shape) (or flattens to it) and y is (N,) labels; cast x to
        the net's dtype and device."""
        name = type(self).__name__
        if is_numpy(x) or is_numpy(y):
            raise UserError(numpy_hint(f"{name}.loss", "x" if is_numpy(x) else "y"))
        if not isinstance(x, Tensor) or x.dim() < 1:
            raise UserError(f"{name}.loss: expected x as a torch tensor (N, ...), got {x!r:.60}")
        tail = tuple(x.shape[1:])
        fits = math.prod(tail) == math.prod(example_shape) if flatten else tail == example_shape
        if not fits:
            raise UserError(
                f"{name}.loss: expected x of shape (N, {', '.join(map(str, example_shape))}), "
                f"got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            x = x.to(self.dtype)
        x = x.to(device=self.device, dtype=self.dtype)
        if y is not None:
            if not isinstance(y, Tensor) or y.shape != (x.shape[0],) or y.is_floating_point():
                got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
                raise UserError(
                    f"{name}.loss: expected integer labels y of shape ({x.shape[0]},), got {got}"
                )
            y = y.to(self.device)
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise UserError(
                    f"{name}.loss: expected labels in [0, {self.num_classes}), got range "
                    f"[{int(y.min())}, {int(y.max())}]"
                )
        return x, y

    def add_l2(self, loss: Tensor, grads: dict[str, Tensor], names: list[str]) -> Tensor:
        """Add reg * sum(W^2) to the loss and 2 * reg * W to each weight's gradient, or with
        `l2_half` the course's 0.5 * reg * sum(W^2) and reg * W."""
        value_scale = 0.5 * self.reg if self.l2_half else self.reg
        grad_scale = self.reg if self.l2_half else 2.0 * self.reg
        for name in names:
            w = self.params[name]
            loss = loss + value_scale * (w * w).sum()
            grads[name] = grads[name] + grad_scale * w
        return loss

    def num_params(self) -> int:
        return sum(p.numel() for p in self.params.values())
