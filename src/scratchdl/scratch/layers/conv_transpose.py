"""Transposed convolution (like nn.ConvTranspose2d): the backward pass of Conv with respect
to its input, used as a layer. Each input pixel scatters a weighted copy of the kernel.

x (N, Cin, H, W), w (Cin, Cout // groups, KH, KW) (nn.ConvTranspose2d's layout), b (Cout,)
or None -> out (N, Cout, Ho, Wo) with Ho = (H - 1) SH - 2 PH + KH + OPH.
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, check_dim, check_same_kind, pair, tensor_layer
from scratchdl.scratch.layers.windows import fold_windows, sliding_windows

IntPair = int | tuple[int, int]


@tensor_layer
class ConvTranspose:
    @staticmethod
    def forward(
        x: Tensor,
        w: Tensor,
        b: Tensor | None,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
    ) -> tuple[Tensor, Cache]:
        name = "ConvTranspose"
        check_dim(x, 4, name, "N, Cin, H, W")
        check_dim(w, 4, f"{name} weight", "Cin, Cout // groups, KH, KW")
        check_same_kind(x, w, name)
        (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
        oph, opw = pair(output_padding, "output_padding")
        if min(sh, sw) < 1 or min(ph, pw, oph, opw) < 0 or oph >= sh or opw >= sw:
            raise UserError(
                f"{name}: expected stride >= 1, padding >= 0 and 0 <= output_padding < stride, "
                f"got stride {(sh, sw)}, padding {(ph, pw)}, output_padding {(oph, opw)}"
            )
        n, c_in, h, wd = x.shape
        c_in_w, cout_per_group, kh, kw = w.shape
        if c_in_w != c_in or c_in % groups:
            raise UserError(
                f"{name}: weight {tuple(w.shape)} does not fit input {tuple(x.shape)}: expected "
                f"w.shape[0] == Cin = {c_in}, divisible by groups={groups}"
            )
        c_out = cout_per_group * groups
        if b is not None and b.shape != (c_out,):
            raise UserError(f"{name}: expected bias of shape ({c_out},), got {tuple(b.shape)}")
        ho = (h - 1) * sh - 2 * ph + kh + oph
        wo = (wd - 1) * sw - 2 * pw + kw + opw
        if ho < 1 or wo < 1:
            raise UserError(f"{name}: padding {(ph, pw)} leaves no output for input {(h, wd)}")
        # cols = W^T @ x per group: one kernel-sized patch per input pixel, then add patches
        # onto a canvas at stride spacing (col2im); output_padding adds zero rows at the end.
        x_mat = x.reshape(n, groups, c_in // groups, h * wd)
        w_mat = w.reshape(groups, c_in // groups, cout_per_group * kh * kw)
        cols = torch.matmul(w_mat.transpose(-1, -2), x_mat).view(n, c_out, kh, kw, h, wd)
        canvas_size = ((h - 1) * sh + kh + oph, (wd - 1) * sw + kw + opw)
        canvas = fold_windows(cols, canvas_size, (sh, sw))
        out = canvas[:, :, ph : ph + ho, pw : pw + wo]
        if b is not None:
            out = out + b.view(1, c_out, 1, 1)
        return out, (x, w, b is not None, canvas_size, (sh, sw), (ph, pw), groups)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns dx, dw, db (None when the forward had no bias)."""
        x, w, has_bias, canvas_size, stride, (ph, pw), groups = cache
        n, c_in, h, wd = x.shape
        _, cout_per_group, kh, kw = w.shape
        ho, wo = dout.shape[2:]
        dcanvas = dout.new_zeros((n, dout.shape[1], *canvas_size))
        dcanvas[:, :, ph : ph + ho, pw : pw + wo] = dout
        # im2col of the canvas gradient: an (H, W) grid of windows, as output_padding < stride.
        dcols = sliding_windows(dcanvas, (kh, kw), stride)
        dcols = dcols.reshape(n, groups, cout_per_group * kh * kw, h * wd)
        x_mat = x.reshape(n, groups, c_in // groups, h * wd)
        w_mat = w.reshape(groups, c_in // groups, cout_per_group * kh * kw)
        dx = torch.matmul(w_mat, dcols).view(x.shape)
        dw = torch.matmul(x_mat, dcols.transpose(-1, -2)).sum(0).view(w.shape)
        db = dout.sum((0, 2, 3)) if has_bias else None
        return dx, dw, db
