"""2x2 max pooling with stride 2 as two loops that torch.compile generates on the CPU.

A drop-in for `nn.MaxPool2d(2, 2)`: the same outputs and the same gradients, ties included
(ATen gives a window's gradient to its first maximum in raster order, and so do we).

Why it exists: ATen's channels-last max pooling vectorizes over channels, so with LeNet's 6
channels it runs mostly scalar. At batch 256 it took ~1.4 ms (fp32) and ~2.7 ms (bf16) for
a pass that reads 4.8 MB, more than LeNet's first convolution. Written as the max of four
strided views, inductor turns the forward into one vectorized loop (~0.17 ms). The backward
needs no index tensor: it compares the saved input with the saved output to find the first
maximum of each window and routes the gradient there, in one more loop.
`benchmarks/bench_pool.py` measures both against ATen's kernel. With 16 or more channels
in channels-last ATen's kernel is vectorized and faster, so MaxPool2x2 uses it there.

`relu=True` computes relu(max_pool(x)) in the same two loops (LeNet's ReLU follows its
pooling): the separate ReLU's forward and backward passes over the pooled map go away.

Off the CPU, or where inductor cannot compile (it needs a C++ compiler), it falls back to
`F.max_pool2d`, which computes the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

log = logging.getLogger(__name__)


def _windows(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The four corners of every 2x2 window, in raster order: (0,0), (0,1), (1,0), (1,1)."""
    return x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]


def max_pool2x2_forward(x: Tensor) -> Tensor:
    """x (N, C, 2H, 2W) -> (N, C, H, W), the max of each 2x2 window."""
    a, b, c, d = _windows(x)
    return torch.maximum(torch.maximum(a, b), torch.maximum(c, d))


def max_pool2x2_relu_forward(x: Tensor) -> Tensor:
    """relu(max_pool2x2_forward(x)) in one pass."""
    return torch.relu(max_pool2x2_forward(x))


def max_pool2x2_relu_backward(x: Tensor, y: Tensor, grad: Tensor) -> Tensor:
    """The gradient of max_pool2x2_relu_forward (output y): ReLU passes it where y > 0
    (torch's rule, so nothing at 0 or NaN), and there y is also the window's maximum."""
    zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
    return max_pool2x2_backward(x, y, torch.where(y > 0, grad, zero))


def _interleave(p: Tensor, q: Tensor) -> Tensor:
    """(..., W) and (..., W) -> (..., 2W) as p0 q0 p1 q1 ..."""
    return torch.stack([p, q], dim=-1).flatten(-2)


def max_pool2x2_backward(x: Tensor, y: Tensor, grad: Tensor) -> Tensor:
    """The gradient of max_pool2x2_forward at x (output y) for output gradient `grad`.

    Each window's gradient goes to its first maximum in raster order, as ATen's does. A
    window holding a NaN (whose output is NaN, equal to nothing) sends it to its last corner.
    """
    a, b, c, _ = _windows(x)
    to_a = a == y
    to_b = (b == y) & ~to_a
    to_c = (c == y) & ~(to_a | to_b)
    to_d = ~(to_a | to_b | to_c)
    zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
    top = _interleave(torch.where(to_a, grad, zero), torch.where(to_b, grad, zero))
    bottom = _interleave(torch.where(to_c, grad, zero), torch.where(to_d, grad, zero))
    dx = torch.stack([top, bottom], dim=-2).flatten(-3, -2)
    # in x's layout: a channels-last gradient in NCHW would cost the convolution a copy
    return dx.contiguous(memory_format=_layout(x))


def _layout(x: Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


_EAGER = {
    "forward": max_pool2x2_forward,
    "backward": max_pool2x2_backward,
    "forward_relu": max_pool2x2_relu_forward,
    "backward_relu": max_pool2x2_relu_backward,
}
_compiled: dict[str, Callable[..., Tensor]] = {}
_compile_failed = False


def _run(name: str, *args: Tensor) -> Tensor:
    """The compiled loop `name`, or the same function eagerly where inductor cannot compile."""
    global _compile_failed
    if not _compile_failed:
        if name not in _compiled:
            _compiled[name] = torch.compile(_EAGER[name], dynamic=False)
        for a in args:  # one loop for every batch size (the last batch, evaluation)
            torch._dynamo.mark_dynamic(a, 0)
        try:
            return _compiled[name](*args)
        except Exception as err:  # inductor without a C++ compiler, say
            _compile_failed = True
            log.warning("compiled max pooling unavailable, running it eagerly: %s", err)
    return _EAGER[name](*args)


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, relu: bool) -> Tensor:
        x = x.detach()
        ctx.suffix = "_relu" if relu else ""
        y = _run("forward" + ctx.suffix, x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    @once_differentiable  # a second derivative through the compiled loop is refused, not wrong
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        x, y = ctx.saved_tensors
        return _run("backward" + ctx.suffix, x, y, grad), None


def max_pool2x2(x: Tensor, compiled: bool = True, relu: bool = False) -> Tensor:
    """F.max_pool2d(x, 2, 2) for (N, C, H, W) x, through the compiled loops where they are
    faster: on the CPU, unless x is channels-last with 16 or more channels (ATen's kernel
    is vectorized over channels: 0.27 against our 0.53 ms at LeNet's 16, bench_pool.py).
    `relu`: relu(F.max_pool2d(x, 2, 2)), fused into the loops."""
    many_channels = x.dim() == 4 and x.shape[1] >= 16 and _layout(x) == torch.channels_last
    if not compiled or x.device.type != "cpu" or many_channels:
        y = F.max_pool2d(x, 2, 2)
        return F.relu(y) if relu else y
    return compiled_max_pool2x2(x, relu)


def compiled_max_pool2x2(x: Tensor, relu: bool = False) -> Tensor:
    """F.max_pool2d(x, 2, 2) (then relu, if asked) through the compiled loops, whatever the
    layout and device."""
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    if x.dim() != 4 or h == 0 or w == 0:
        y = F.max_pool2d(x, 2, 2)  # its own error for a too-small or wrong-rank input
        return F.relu(y) if relu else y
    return _MaxPool2x2.apply(x[..., :h, :w], relu)  # an odd last row/col is dropped, as ATen's


class MaxPool2x2(nn.Module):
    """`nn.MaxPool2d(2, 2)` with compiled CPU loops (`compiled=False`: ATen's kernel);
    `relu=True`: `nn.ReLU()` after it, fused into the same loops."""

    def __init__(self, compiled: bool = True, relu: bool = False) -> None:
        super().__init__()
        self.compiled, self.relu = compiled, relu

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2x2(x, self.compiled, self.relu)

    def extra_repr(self) -> str:
        return f"compiled={self.compiled}, relu={self.relu}"
