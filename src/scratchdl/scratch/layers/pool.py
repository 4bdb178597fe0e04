"""Max and average pooling over (N, C, H, W), vectorized over all windows at once.

Same semantics as F.max_pool2d / F.avg_pool2d with ceil_mode=False: stride defaults to the
kernel size, padding is at most half the kernel, average pooling counts padded zeros
(count_include_pad=True).
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, check_dim, pair, tensor_layer
from scratchdl.scratch.layers.windows import (
    fold_windows,
    output_size,
    pad2d,
    sliding_windows,
    unpad2d,
)

IntPair = int | tuple[int, int]


def _check_pool_args(
    x: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair, name: str
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    check_dim(x, 4, name, "N, C, H, W")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if min(kernel) < 1 or min(stride) < 1:
        raise UserError(f"{name}: expected kernel and stride >= 1, got {kernel}, {stride}")
    if min(padding) < 0 or padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise UserError(f"{name}: expected 0 <= padding <= kernel // 2, got {padding} for {kernel}")
    h, w = x.shape[2:]
    if (
        output_size(h, kernel[0], stride[0], padding[0]) < 1
        or output_size(w, kernel[1], stride[1], padding[1]) < 1
    ):
        raise UserError(f"{name}: kernel {kernel} is larger than the padded input {(h, w)}")
    return kernel, stride, padding


@tensor_layer
class MaxPool:
    @staticmethod
    def forward(
        x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
    ) -> tuple[Tensor, Cache]:
        """x (N, C, H, W) -> (N, C, Ho, Wo), the max of each window."""
        kernel, stride, padding = _check_pool_args(x, kernel_size, stride, padding, "MaxPool")
        xp = pad2d(x, padding, value=float("-inf"))  # padding never wins a max
        n, c = x.shape[:2]
        windows = sliding_windows(xp, kernel, stride)  # (N, C, KH, KW, Ho, Wo) view
        ho, wo = windows.shape[4:]
        out, arg = windows.reshape(n, c, kernel[0] * kernel[1], ho, wo).max(dim=2)
        return out, (arg, tuple(xp.shape), kernel, stride, padding)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        """Each window's gradient goes to its max element; overlapping windows add up."""
        arg, (n, c, hp, wp), (kh, kw), (sh, sw), padding = cache
        ho, wo = arg.shape[2:]
        rows = torch.arange(ho, device=arg.device).view(ho, 1) * sh + arg // kw
        cols = torch.arange(wo, device=arg.device).view(1, wo) * sw + arg % kw
        flat_index = (rows * wp + cols).view(n, c, ho * wo)
        dxp = dout.new_zeros((n, c, hp * wp))
        dxp.scatter_add_(2, flat_index, dout.reshape(n, c, ho * wo))
        return unpad2d(dxp.view(n, c, hp, wp), padding)


@tensor_layer
class AvgPool:
    @staticmethod
    def forward(
        x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
    ) -> tuple[Tensor, Cache]:
        """x (N, C, H, W) -> (N, C, Ho, Wo), the mean of each window (padded zeros count)."""
        kernel, stride, padding = _check_pool_args(x, kernel_size, stride, padding, "AvgPool")
        xp = pad2d(x, padding)
        out = sliding_windows(xp, kernel, stride).mean(dim=(2, 3))
        return out, (tuple(xp.shape[2:]), kernel, stride, padding)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> Tensor:
        """Each window spreads its gradient evenly over its KH * KW elements."""
        padded_size, (kh, kw), stride, padding = cache
        n, c, ho, wo = dout.shape
        share = (dout / (kh * kw)).view(n, c, 1, 1, ho, wo).expand(n, c, kh, kw, ho, wo)
        return unpad2d(fold_windows(share, padded_size, stride), padding)
