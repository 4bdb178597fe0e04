"""A trained model seen from pixel space [0, 1]: attacks and visualizations work in pixels.

Runs trained with `data.normalize = true` expect standardised images (x - mean) / std. An
epsilon of 0.03 should mean 0.03 of the pixel range whatever the run did, so attacks and
class visualization run on `PixelModel(model, mean, std)`, which standardises inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class PixelModel(nn.Module):
    """model((x - mean) / std) for x in pixel space; mean/std per channel (identity if None)."""

    def __init__(
        self,
        model: nn.Module,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        channels = len(mean) if mean is not None else 0
        m = torch.tensor(
            list(mean) if mean is not None else [], dtype=torch.float64
        )  # cast to x.dtype on use
        s = torch.tensor(
            list(std) if std is not None else [], dtype=torch.float64
        )  # cast to x.dtype on use
        self.register_buffer("mean", m.view(1, channels, 1, 1), persistent=False)
        self.register_buffer("std", s.view(1, channels, 1, 1), persistent=False)

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels -> the model's input space."""
        if self.mean.numel() == 0:
            return x
        m, s = self.mean.to(x), self.std.to(x)  # x's device and dtype
        return (x - m) / s

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The model's input space -> pixels (clamped to [0, 1])."""
        if self.mean.numel() == 0:
            return x
        return (x * self.std.to(x) + self.mean.to(x)).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.standardize(x))
