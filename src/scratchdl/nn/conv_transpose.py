"""Transposed convolution as a trainable layer (twin: nn.ConvTranspose2d), and the bilinear
kernel that makes it an upsampler (FCN, book sec. 13.10-13.11).

`ConvTranspose2d` runs the hand-written forward and backward of
scratchdl.scratch.layers.conv_transpose (a matmul, then col2im) inside a
torch.autograd.Function, so it trains in any network. Dilation d is done by spreading the
kernel out with zeros ((K - 1) d + 1 taps) and taking every d-th tap of its gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError
from scratchdl.scratch.layers.conv_transpose import ConvTranspose

IntPair = int | tuple[int, int]


def _pair(v: IntPair, name: str) -> tuple[int, int]:
    out = (v, v) if isinstance(v, int) else tuple(v)
    if len(out) != 2 or not all(isinstance(i, int) for i in out):
        raise UserError(f"{name}: expected an int or a pair of ints, got {v!r}")
    return out  # type: ignore[return-value]


def _dilate(w: Tensor, d: tuple[int, int]) -> Tensor:
    if d == (1, 1):
        return w
    kh, kw = w.shape[-2:]
    out = w.new_zeros((*w.shape[:2], (kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1))
    out[..., :: d[0], :: d[1]] = w
    return out


class _ConvTransposeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, groups, dilation):  # noqa: ANN001, ANN205
        out, cache = ConvTranspose.forward(
            x, _dilate(w, dilation), b, stride, padding, output_padding, groups
        )
        ctx.cache, ctx.dilation = cache, dilation
        return out

    @staticmethod
    def backward(ctx, dout):  # noqa: ANN001, ANN205
        dx, dw, db = ConvTranspose.backward(dout.contiguous(), ctx.cache)
        d = ctx.dilation
        return dx, dw[..., :: d[0], :: d[1]], db, None, None, None, None, None


def conv_transpose2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> Tensor:
    """F.conv_transpose2d from scratch: x [N, Cin, H, W], weight [Cin, Cout/groups, KH, KW].
    Output side (H - 1) stride - 2 padding + dilation (K - 1) + output_padding + 1."""
    d = _pair(dilation, "dilation")
    if min(d) < 1:
        raise UserError(f"dilation: expected >= 1, got {dilation!r}")
    oph, opw = _pair(output_padding, "output_padding")
    sh, sw = _pair(stride, "stride")
    if oph >= sh or opw >= sw:
        raise UserError(f"output_padding {(oph, opw)}: expected less than stride {(sh, sw)}")
    return _ConvTransposeFn.apply(x, weight, bias, (sh, sw), padding, (oph, opw), groups, d)


class ConvTranspose2d(nn.Module):
    """Drop-in twin of nn.ConvTranspose2d (same parameters, layout, default initialization)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntPair = 1,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise UserError(
                f"ConvTranspose2d: in_channels {in_channels} and out_channels {out_channels} "
                f"must both be divisible by groups={groups}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        self.output_padding = _pair(output_padding, "output_padding")
        self.dilation = _pair(dilation, "dilation")
        self.weight = nn.Parameter(
            torch.empty(in_channels, out_channels // groups, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: Kaiming-uniform with a = sqrt(5); fan_in = weight.size(1) * K."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}")


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> Tensor:
    """The book's bilinear upsampling weight [in, out, k, k]: channel c -> channel c only.

    With stride s, kernel 2s and padding s/2, a transposed conv with this weight equals
    F.interpolate(scale_factor=s, mode="bilinear", align_corners=False) everywhere except a
    band of about s/2 pixels at each border. There interpolate clamps to the edge pixel
    (replicates it), while the transposed conv sees zeros outside the image: its taps there
    sum to less than one, so border pixels come out darker (toward 0) by the missing weight.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt = 1 - (og - center).abs() / factor
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    n = min(in_channels, out_channels)
    weight[range(n), range(n)] = filt[:, None] * filt[None, :]
    return weight
