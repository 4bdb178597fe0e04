"""im2col and its adjoint col2im, shared by convolution, pooling and transposed convolution.

`sliding_windows` is a zero-copy strided view of every kernel window; `fold_windows` adds the
windows back onto the image (the backward pass of taking windows, overlaps are summed).
"""

import torch
from torch import Tensor


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def sliding_windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """All kernel windows of x (N, C, H, W) as a view of shape (N, C, KH, KW, Ho, Wo).

    Element [n, c, i, j, p, q] is x[n, c, p * SH + i, q * SW + j]. No data is copied: the view
    reuses x's storage with the strides of the window grid.
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    s_n, s_c, s_h, s_w = x.stride()
    return x.as_strided(
        (n, c, kh, kw, ho, wo), (s_n, s_c, s_h, s_w, s_h * sh, s_w * sw), x.storage_offset()
    )


def fold_windows(
    windows: Tensor, size: tuple[int, int], stride: tuple[int, int], into: Tensor | None = None
) -> Tensor:
    """Adjoint of `sliding_windows`: sum windows (N, C, KH, KW, Ho, Wo) into an (N, C, H, W) image.

    One strided add per kernel offset (KH * KW of them), each over the whole batch at once.
    With `into` (an (N, C, H, W) tensor) the windows are added to it in place, no new image.
    """
    n, c, kh, kw, ho, wo = windows.shape
    (sh, sw) = stride
    image = windows.new_zeros((n, c, *size)) if into is None else into
    for i in range(kh):
        for j in range(kw):
            image[:, :, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw] += windows[
                :, :, i, j
            ]
    return image


def pad2d(x: Tensor, padding: tuple[int, int], value: float = 0.0) -> Tensor:
    """Pad the last two dims of x (N, C, H, W) by (PH, PW) on each side with `value`."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = torch.full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype, device=x.device)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def unpad2d(x: Tensor, padding: tuple[int, int]) -> Tensor:
    """Crop (PH, PW) from each side of the last two dims: the backward pass of `pad2d`."""
    ph, pw = padding
    return x[:, :, ph : x.shape[2] - ph, pw : x.shape[3] - pw]
