"""Neural style transfer (Gatys et al.; book sec. 14.12): losses, features, image I/O.

The book reads content and style from a pretrained VGG-19. No VGG weights can be had offline
(DATA.md), so the frozen pretrained EfficientNet-Lite0 stands in. Its feature maps at the
same strides as the book's VGG layers take their place:

    book (VGG-19)            here (EfficientNet-Lite0, ReLU6 after BN)
    style  conv1_1  /1       stem            /2   32 channels
    style  conv2_1  /2       block 2         /4   24 channels
    style  conv3_1  /4       block 4         /8   40 channels
    style  conv4_1  /8       block 7         /16  80 channels
    style  conv5_1  /16      block 10        /16  112 channels
    content conv4_2 /8       block 4         /8   40 channels

(EfficientNet halves the resolution in its stem, so each stand-in is one stride coarser.)
The losses are the book's: content = MSE of feature maps; style = MSE of Gram matrices
(channels x channels, divided by the number of entries of the feature map); total variation
= mean absolute difference of neighbouring pixels (the book sums and halves; the mean keeps
the weight independent of the image size).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.efficientnet import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0

STEM = -1  # the stem's output, before block 0
STYLE_LAYERS = (STEM, 2, 4, 7, 10)
CONTENT_LAYERS = (4,)


def gram(features: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, C, C]: channel correlations, divided by C*H*W (the book's scale)."""
    b, c, h, w = features.shape
    x = features.reshape(b, c, h * w)
    return x @ x.transpose(1, 2) / (c * h * w)


def content_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of feature maps (the target is a constant)."""
    return F.mse_loss(y_hat, y.detach())


def style_loss(y_hat: torch.Tensor, gram_y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the Gram matrix of `y_hat` and the style's Gram matrix."""
    return F.mse_loss(gram(y_hat), gram_y.detach())


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation: mean |x[i, j] - x[i+1, j]| + mean |x[i, j] - x[i, j+1]| (denoising)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (
        x[..., :, 1:] - x[..., :, :-1]
    ).abs().mean()


class StyleFeatures(nn.Module):
    """Frozen EfficientNet-Lite0 in eval mode: image [B, 3, H, W] in [0, 1] -> the feature maps
    of `layers` (STEM = -1 or block indices 0..15), in the order asked."""

    def __init__(self, layers: Sequence[int], image_size: int = 224) -> None:
        super().__init__()
        bad = [i for i in layers if not -1 <= i <= 15]
        if bad:
            raise UserError(f"style layers: expected -1 (stem) or blocks 0..15, got {bad}")
        net = efficientnet_lite0(pretrained=True, image_size=image_size, drop_connect=0.0)
        self.layers = list(layers)
        self.last = max(self.layers)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.last + 1] if self.last >= 0 else nn.ModuleList()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> StyleFeatures:
        return super().train(False)  # BN statistics stay ImageNet's

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem((x - self.mean) / self.std)
        found = {STEM: x}
        for i, block in enumerate(self.blocks):
            x = block(x)
            found[i] = x
        return [found[i] for i in self.layers]


def load_image(path: str | Path, size: int) -> torch.Tensor:
    """A PNG/JPEG file -> float [1, 3, h, w] in [0, 1], the longer side resized to `size`
    (aspect kept, each side a multiple of 8). Grey is repeated to RGB, alpha dropped."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such image file; give the path of a PNG or JPEG image")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                raise UserError(
                    f"{p}: image mode {im.mode} is not supported; expected an RGB or grey "
                    "image (convert it to 8-bit RGB PNG or JPEG)"
                )
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{p}: cannot read it as an image ({e}); give a PNG or JPEG file") from None
    return to_tensor(rgb, size, str(p))


def to_tensor(rgb: np.ndarray, size: int, what: str = "image") -> torch.Tensor:
    """uint8 [H, W, 3] (or [H, W] grey) -> float [1, 3, h, w] in [0, 1], longer side `size`."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise UserError(f"{what}: expected an RGB image [H, W, 3], got shape {list(rgb.shape)}")
    h, w = rgb.shape[:2]
    if min(h, w) < 32:
        raise UserError(f"{what}: image is {w}x{h} pixels; expected at least 32x32")
    if not isinstance(size, int) or size < 64:
        raise UserError(f"size: expected an int >= 64 pixels, got {size!r}")
    scale = size / max(h, w)
    new = (max(32, round(h * scale / 8) * 8), max(32, round(w * scale / 8) * 8))
    x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(x, size=new, mode="bilinear", antialias=True, align_corners=False)


def save_image(x: torch.Tensor, path: str | Path) -> Path:
    """float [1, 3, h, w] in [0, 1] -> an 8-bit PNG or JPEG (by suffix)."""
    from PIL import Image

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = (x.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy() * 255).round()
    Image.fromarray(arr.astype(np.uint8)).save(p)
    return p
