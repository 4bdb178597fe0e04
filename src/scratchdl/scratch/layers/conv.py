"""2-d convolution (cross-correlation, like nn.Conv2d): a naive loop version for reading and
an im2col version for speed. Both take the same arguments and give the same results.

x (N, C, H, W), w (F, C // groups, KH, KW), b (F,) or None -> out (N, F, Ho, Wo) with
Ho = (H + 2 PH - KH) // SH + 1 and Wo likewise.
"""

from collections.abc import Iterator

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, check_dim, check_same_kind, pair, tensor_layer
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


@tensor_layer
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


# im2col columns are built for a few examples at a time, in one reused buffer of about this many
# bytes: it stays in the last-level cache, and its fresh pages (slow to fault in on some machines)
# are touched once, not 231 MB of them for a whole 32x64x56x56 batch under a 3x3 kernel. 16 MB
# holds two such examples; measured on 2 cores, 8 MB and 64 MB were slower.
COLUMN_BUFFER_BYTES = 16 << 20


def examples_per_chunk(x: Tensor, kernel: tuple[int, int], out_size: tuple[int, int]) -> int:
    """How many examples' columns (C KH KW x Ho Wo each) fit the column buffer (at least 1)."""
    per_example = x.shape[1] * kernel[0] * kernel[1] * out_size[0] * out_size[1]
    return max(1, min(x.shape[0], COLUMN_BUFFER_BYTES // (per_example * x.element_size())))


def column_chunks(
    x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> Iterator[tuple[int, int, Tensor]]:
    """im2col of x (N, C, H, W) a chunk of examples at a time: yields (start, stop, cols) with
    cols (stop - start, C, KH, KW, Ho, Wo) the windows of x[start:stop] padded by `padding`.

    cols lives in one buffer that the next chunk overwrites (the caller may scribble on it).
    The padding is done per chunk too, in a small buffer whose zero border is written once.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    chunk = examples_per_chunk(x, kernel, (ho, wo))
    padded = x.new_zeros((chunk, c, h + 2 * ph, w + 2 * pw))
    buffer = x.new_empty((chunk, c, kh, kw, ho, wo))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        unpad2d(padded[: stop - start], padding).copy_(x[start:stop])
        # The strided window view copied into the buffer is the im2col copy.
        buffer[: stop - start].copy_(sliding_windows(padded[: stop - start], kernel, stride))
        yield start, stop, buffer[: stop - start]


@tensor_layer
class Conv:
    """Convolution as matrix multiplies: im2col copies every window into a column, then
    out = W (F, C KH KW) @ cols (C KH KW, Ho Wo) for each example (batched, per group).

    The batch goes through in chunks that reuse one small column buffer. Only x is kept for
    the backward pass, which rebuilds each chunk's columns (a cheap copy next to the matmuls)
    for dW = sum of dout @ cols^T; dx is col2im of W^T @ dout, computed in the same buffer."""

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
        rows = c_per_group * kh * kw  # one column per output pixel, this many rows per group
        w_mat = w.reshape(groups, f // groups, rows)
        out = x.new_empty((n, groups, f // groups, ho * wo))  # (N, G, F/G, L) is (N, F, Ho, Wo)
        for start, stop, cols in column_chunks(x, (kh, kw), stride, padding):
            cols_mat = cols.view(stop - start, groups, rows, ho * wo)
            torch.matmul(w_mat, cols_mat, out=out[start:stop])  # one GEMM per example and group
        out = out.view(n, f, ho, wo)
        if b is not None:
            out += b.view(1, f, 1, 1)
        return out, (x, w, b is not None, stride, padding, groups)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns dx, dw, db (None when the forward had no bias)."""
        x, w, has_bias, stride, padding, groups = cache
        n, c, h, wd = x.shape
        f, c_per_group, kh, kw = w.shape
        ho, wo = dout.shape[2:]
        rows = c_per_group * kh * kw
        dout_mat = dout.reshape(n, groups, f // groups, ho * wo)
        db = dout.sum((0, 2, 3)) if has_bias else None
        w_t = w.reshape(groups, f // groups, rows).transpose(1, 2)  # (G, C/G KH KW, F/G)
        dw = w.new_zeros((groups, f // groups, rows))
        dx = x.new_empty(x.shape)
        # Gradient of one padded chunk: col2im sums into it, then its interior goes to dx.
        chunk = examples_per_chunk(x, (kh, kw), (ho, wo))
        dpadded = x.new_empty((chunk, c, h + 2 * padding[0], wd + 2 * padding[1]))
        for start, stop, cols in column_chunks(x, (kh, kw), stride, padding):
            cols_mat = cols.view(stop - start, groups, rows, ho * wo)
            # dW = sum over examples of dout_n @ cols_n^T (the per-example products are small).
            dw += torch.matmul(dout_mat[start:stop], cols_mat.transpose(-1, -2)).sum(0)
            # The columns are spent: their buffer takes the columns' gradient W^T @ dout, which
            # col2im (fold_windows) adds back where each window sat in the padded chunk.
            torch.matmul(w_t, dout_mat[start:stop], out=cols_mat)
            chunk_grad = dpadded[: stop - start].zero_()
            fold_windows(cols, chunk_grad.shape[2:], stride, into=chunk_grad)
            dx[start:stop] = unpad2d(chunk_grad, padding)
        return dx, dw.view(w.shape), db
