"""PixelCNN (van den Oord et al. 2016, "Pixel Recurrent Neural Networks") for binarized images.

p(x) = prod_i p(x_i | x_<i) in raster order; every layer is a convolution whose kernel is
masked so that output pixel i never sees pixels >= i. Mask A (first layer) hides the current
pixel itself; mask B (later layers) lets a position see its own earlier features, which by
induction still only depend on pixels < i. With C data channels (e.g. R, G, B) the centre tap
is split into C groups: mask A lets channel group g see input groups < g, mask B groups <= g.
The test NLL is exact: -log p(x) = sum of per-pixel Bernoulli cross-entropies, in nats per
image and in bits per dimension (nats / (784 ln 2)).

Sampling is pixel by pixel (784 network passes). Since row r of every layer's output depends
on input rows <= r only, pass k needs only rows 0..r: `sample(..., crop=True)` runs the net on
that top slice (exactly equal, about half the work; benchmarks/bench_pixelcnn.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model


def causal_mask(out_ch: int, in_ch: int, k: int, mask_type: str, data_channels: int = 1):
    """[out, in, k, k] 0/1 mask: rows above the centre, the centre row left of the centre, and
    at the centre the channel groups allowed by `mask_type` ("A": earlier, "B": up to own)."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    m = torch.zeros(out_ch, in_ch, k, k)
    c = k // 2
    m[:, :, :c, :] = 1
    m[:, :, c, :c] = 1
    g_out = torch.arange(out_ch) * data_channels // out_ch  # channel group of each output
    g_in = torch.arange(in_ch) * data_channels // in_ch
    allowed = g_out[:, None] > g_in[None, :] if mask_type == "A" else g_out[:, None] >= g_in
    m[:, :, c, c] = allowed.float()
    return m


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose weight is multiplied by a causal mask on every call."""

    def __init__(
        self, in_ch: int, out_ch: int, k: int, mask_type: str, data_channels: int = 1
    ) -> None:
        super().__init__(in_ch, out_ch, k, padding=k // 2)
        self.register_buffer("mask", causal_mask(out_ch, in_ch, k, mask_type, data_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):
    """h + 1x1(relu(masked 3x3 B(relu(1x1(relu(h)))))), the paper's PixelCNN residual block."""

    def __init__(self, ch: int, data_channels: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(ch, ch // 2, 1, "B", data_channels),
            nn.ReLU(),
            MaskedConv2d(ch // 2, ch // 2, 3, "B", data_channels),
            nn.ReLU(),
            MaskedConv2d(ch // 2, ch, 1, "B", data_channels),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class PixelCNN(nn.Module):
    """7x7 mask-A conv, `layers` residual mask-B blocks, two 1x1 mask-B convs -> logits."""

    conditional = False

    def __init__(self, channels: int = 64, layers: int = 7, num_classes: int = 10) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = 0, num_classes, (1, 28, 28)
        self.net = nn.Sequential(
            MaskedConv2d(1, channels, 7, "A"),
            *[ResidualBlock(channels) for _ in range(layers)],
            nn.ReLU(),
            MaskedConv2d(channels, channels, 1, "B"),
            nn.ReLU(),
            MaskedConv2d(channels, 1, 1, "B"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits [N, 1, H, W]: logit i is a function of pixels < i only."""
        return self.net(2 * x - 1)  # {0, 1} -> {-1, 1}: no pixel value is "nothing"

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x) per image in nats (exact: a sum of per-pixel cross-entropies)."""
        bce = F.binary_cross_entropy_with_logits(self(x), x, reduction="none")
        return bce.flatten(1).sum(1)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        nll = self.nll(x).mean()
        return {"loss": nll, "nll": nll, "bits_per_dim": nll / (x[0].numel() * math.log(2))}

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x_i = 1 | the true x_<i) for every pixel: the model's one-step-ahead guesses."""
        return torch.sigmoid(self(x))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        crop: bool = True,
    ) -> torch.Tensor:
        """n binary images drawn pixel by pixel in raster order; crop=True runs each pass on the
        rows it needs only (same result, less work)."""
        _, h, w = self.image_shape
        dev = next(self.parameters()).device
        x = torch.zeros(n, 1, h, w, device=dev)
        for r in range(h):
            for c in range(w):
                logits = self(x[:, :, : r + 1] if crop else x)[:, 0, r, c]
                u = torch.rand(n, generator=generator, device=dev)
                x[:, 0, r, c] = (u < torch.sigmoid(logits)).float()
        return x


@register_model("pixelcnn", "generative", options={"channels": 64, "layers": 7})
def pixelcnn(*, num_classes: int = 10, **options: Any) -> PixelCNN:
    """PixelCNN, binarized images: masked convs A/B, residual blocks (van den Oord et al. 2016)."""
    return PixelCNN(num_classes=num_classes, **options)
