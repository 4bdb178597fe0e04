"""Affine (fully connected) layer: out = x.flatten(1) @ w + b."""

from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, check_same_kind, tensor_layer


@tensor_layer
class Affine:
    """x (N, d1, ..., dk) is flattened to (N, D); w is (D, M) (the transpose of nn.Linear's
    weight), b is (M,) or None; out is (N, M)."""

    @staticmethod
    def forward(x: Tensor, w: Tensor, b: Tensor | None) -> tuple[Tensor, Cache]:
        if x.dim() < 1 or w.dim() != 2 or (b is not None and b.shape != (w.shape[1],)):
            got_b = None if b is None else tuple(b.shape)
            raise UserError(
                f"Affine: expected x (N, ...), w (D, M), b (M,), got x {tuple(x.shape)}, "
                f"w {tuple(w.shape)}, b {got_b}"
            )
        check_same_kind(x, w, "Affine")
        x_flat = x.reshape(x.shape[0], -1)
        if x_flat.shape[1] != w.shape[0]:
            raise UserError(
                f"Affine: x flattens to {x_flat.shape[1]} features per example but w expects "
                f"{w.shape[0]} (x shape {tuple(x.shape)}, w shape {tuple(w.shape)})"
            )
        out = x_flat @ w if b is None else b.addmm(x_flat, w)  # b + x_flat @ w in one kernel
        return out, (x, w, b is not None)

    @staticmethod
    def backward(dout: Tensor, cache: Cache) -> tuple[Tensor, Tensor, Tensor | None]:
        """dout (N, M) -> dx (same shape as x), dw (D, M), db (M,) (None without a bias)."""
        x, w, has_bias = cache
        x_flat = x.reshape(x.shape[0], -1)
        dx = (dout @ w.t()).reshape(x.shape)
        dw = x_flat.t() @ dout
        db = dout.sum(0) if has_bias else None
        return dx, dw, db
