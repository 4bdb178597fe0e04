"""Small helpers shared by the classic CNN files: channel scaling and an early size check."""

from __future__ import annotations

from torch import nn

from scratchdl.errors import UserError


def scaled(channels: int, width: float) -> int:
    """`channels * width`, rounded, never below one (width 0.25 is the book's quarter VGG)."""
    return max(1, round(channels * width))


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def check_fits(layers: nn.Module, image_size: tuple[int, int], model: str, hint: str) -> None:
    """Raise a UserError at build time if `image_size` shrinks to nothing inside `layers`.

    Walks the Conv2d / MaxPool2d / AvgPool2d modules in registration order, so it is only
    valid for a plain chain (AlexNet, VGG, NiN, LeNet), not for parallel branches.
    """
    h, w = image_size
    for m in layers.modules():
        if not isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        (kh, kw), (sh, sw), (ph, pw) = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise UserError(
                f"{model}: image_size {tuple(image_size)} is too small (a {kh}x{kw} "
                f"{type(m).__name__} meets a {h}x{w} feature map); {hint}"
            )
        h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
