"""2-d convolution (cross-correlation, like nn.Conv2d): a naive loop version for reading and
an im2col version for speed. Both take the same arguments and give the same results.

x (N, C, H, W), w (F, C // groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo) with
Ho = (H + 2 PH - KH) // SH + 1 and Wo likewise.
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, check_dim, check_same_kind, pair
from scratchdl.scratch.layers.windows import (
    fold_windows,
    output_size,
    pad2d,
    sliding_windows,
    unpad2d,
)

IntPair = int | tuple[int, int]


def check_conv_args(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: IntPair,
    padding: IntPair,
    groups: int,
    name: str,
) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    """Validate conv inputs; return (stride, padding, Ho, Wo) or raise UserError."""
    check_dim(x, 4, name, "N, C, H, W")
    check_dim(w, 4, f"{name} weight", "F, C // groups, KH, KW")
    check_same_kind(x, w, name)
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    if min(stride) < 1 or min(padding) < 0:
        raise UserError(f"{name}: expected stride >= 1 and padding >= 0, got {stride}, {padding}")
    if not isinstance(groups, int) or groups < 1:
        raise UserError(f"{name}: expected groups to be a positive int, got {groups!r}")
    _, c, h, wd = x.shape
    f, c_per_group, kh, kw = w.shape
    if c % groups or f % groups or c_per_group * groups != c:
        raise UserError(
            f"{name}: weight {tuple(w.shape)} does not fit input {tuple(x.shape)} with "
            f"groups={groups}: expected w.shape[1] == C // groups = {c // groups} and F, C "
            "divisible by groups"
        )
    if b is not None and b.shape != (f,):
        raise UserError(f"{name}: expected bias of shape ({f},), got {tuple(b.shape)}")
    ho = output_size(h, kh, stride[0], padding[0])
    wo = output_size(wd, kw, stride[1], padding[1])
    if ho < 1 or wo < 1:
        raise UserError(
            f"{name}: kernel {kh}x{kw} is larger than the padded input "
            f"{h + 2 * padding[0]}x{wd + 2 * padding[1]}; use more padding or a smaller kernel"
        )
    return stride, padding, ho, wo


class ConvNaive:
    """Convolution with explicit loops over examples, filters and output positions. Slow;
    meant to be read. Use Conv for anything bigger than a test."""

    @staticmethod
    def forward(
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        stride: IntPair = 1,
        padding: IntPair = 0,
        groups: int = 1,
    ) -> tuple[Tensor, Cache]:
        (sh, sw), padding, ho, wo = check_conv_args(x, w, b, stride, padding, groups, "ConvNaive")
        n, f = x.shape[0], w.shape[0]
        c_per_group, kh, kw = w.shape[1:]
        f_per_group = f // groups
        xp = pad2d(x, padding)
        out = x.new_zeros((n, f, ho, wo))
        for i in range(n):
            for k in range(f):
                g = k // f_per_group  # filter k only sees the channels of its group
                channels = slice(g * c_per_group, (g + 1) * c_per_group)
                for p in range(ho):
                    for q in range(wo):
                        window = xp[i, channels, p * sh : p * sh + kh, q * sw : q * sw + kw]
                        out[i, k, p, q] = (window * w[k]).sum()
        if b is not None:
            out += b.view(1, f, 1, 1)
        return out, (x, w, b is not None, (sh, sw), padding, groups)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns dx, dw, db (None when the forward had no bias)."""
        x, w, has_bias, (sh, sw), padding, groups = cache
        n, f, ho, wo = dout.shape
        c_per_group, kh, kw = w.shape[1:]
        f_per_group = f // groups
        xp = pad2d(x, padding)
        dxp = torch.zeros_like(xp)
        dw = torch.zeros_like(w)
        for i in range(n):
            for k in range(f):
                g = k // f_per_group
                channels = slice(g * c_per_group, (g + 1) * c_per_group)
                for p in range(ho):
                    for q in range(wo):
                        rows = slice(p * sh, p * sh + kh)
                        cols = slice(q * sw, q * sw + kw)
                        dxp[i, channels, rows, cols] += w[k] * dout[i, k, p, q]
                        dw[k] += xp[i, channels, rows, cols] * dout[i, k, p, q]
        db = dout.sum((0, 2, 3)) if has_bias else None
        return unpad2d(dxp, padding), dw, db


# im2col columns are built for a few examples at a time, in one buffer of about this many bytes
# that is reused: it stays in cache, and fresh pages (slow to fault in on some machines) are
# touched once instead of for the whole batch (231 MB of columns for a 32x64x56x56 3x3 layer).
COLUMN_BUFFER_BYTES = 8 << 20


def examples_per_chunk(n: int, bytes_per_example: int) -> int:
    """How many examples' columns fit the column buffer (at least one, at most the batch)."""
    return max(1, min(n, COLUMN_BUFFER_BYTES // max(1, bytes_per_example)))


class Conv:
    """Convolution as matrix multiplies: im2col copies every window into a column, then
    out = W (F, C KH KW) @ cols (C KH KW, Ho Wo) for each example (batched, per group).

    The batch is done in chunks that reuse one small column buffer. Only the padded input is
    kept for the backward pass, which rebuilds each chunk's columns (a cheap copy next to the
    matmuls) for dW = sum of dout @ cols^T; dx is col2im of W^T @ dout, in the same buffer."""

    @staticmethod
    def forward(
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        stride: IntPair = 1,
        padding: IntPair = 0,
        groups: int = 1,
    ) -> tuple[Tensor, Cache]:
        stride, padding, ho, wo = check_conv_args(x, w, b, stride, padding, groups, "Conv")
        n = x.shape[0]
        f, c_per_group, kh, kw = w.shape
        xp = pad2d(x, padding)
        rows = c_per_group * kh * kw  # one column per output pixel, this many rows per group
        w_mat = w.reshape(groups, f // groups, rows)
        out = x.new_empty((n, groups, f // groups, ho * wo))  # (N, G, F/G, L) is (N, F, Ho, Wo)
        chunk = examples_per_chunk(n, groups * rows * ho * wo * x.element_size())
        buffer = x.new_empty((chunk, groups * c_per_group, kh, kw, ho, wo))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            cols = buffer[: stop - start]
            # im2col: copying the strided window view into the buffer is the one copy.
            cols.copy_(sliding_windows(xp[start:stop], (kh, kw), stride))
            cols_mat = cols.view(stop - start, groups, rows, ho * wo)
            torch.matmul(w_mat, cols_mat, out=out[start:stop])  # one GEMM per example and group
        out = out.view(n, f, ho, wo)
        if b is not None:
            out += b.view(1, f, 1, 1)
        return out, (xp, w, b is not None, stride, padding, groups)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns dx, dw, db (None when the forward had no bias)."""
        xp, w, has_bias, (sh, sw), padding, groups = cache
        n = xp.shape[0]
        f, c_per_group, kh, kw = w.shape
        ho, wo = dout.shape[2:]
        rows = c_per_group * kh * kw
        dout_mat = dout.reshape(n, groups, f // groups, ho * wo)
        db = dout.sum((0, 2, 3)) if has_bias else None
        w_t = w.reshape(groups, f // groups, rows).transpose(1, 2)  # (G, C/G KH KW, F/G)
        dw = w.new_zeros((groups, f // groups, rows))
        dxp = torch.zeros_like(xp)
        chunk = examples_per_chunk(n, groups * rows * ho * wo * xp.element_size())
        buffer = xp.new_empty((chunk, groups * c_per_group, kh, kw, ho, wo))
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            cols = buffer[: stop - start]
            cols.copy_(sliding_windows(xp[start:stop], (kh, kw), (sh, sw)))
            cols_mat = cols.view(stop - start, groups, rows, ho * wo)
            # dW = sum over examples of dout_n @ cols_n^T (the per-example products are small).
            dw += torch.matmul(dout_mat[start:stop], cols_mat.transpose(-1, -2)).sum(0)
            # The columns are spent: the same buffer takes their gradient W^T @ dout, which
            # col2im (fold_windows) adds back where each window sat in the padded input.
            torch.matmul(w_t, dout_mat[start:stop], out=cols_mat)
            fold_windows(cols, xp.shape[2:], (sh, sw), into=dxp[start:stop])
        return unpad2d(dxp, padding), dw.view(w.shape), db
