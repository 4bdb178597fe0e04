"""Feed a model larger inputs than the data has: `data.image_size` upsamples every batch.

The book trains AlexNet/VGG/NiN at 224x224 and GoogLeNet/ResNet/DenseNet at 96x96 on
Fashion-MNIST's 28x28 images. Resizing each batch on the fly (bilinear, like the book's
`transforms.Resize`) costs no memory up front: 60k images at 224x224 would be 12 GB.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._registry import build_model


class ResizeInput(nn.Module):
    """Bilinearly resize [N, C, H, W] inputs to `size`, then run `net`."""

    def __init__(self, net: nn.Module, size: tuple[int, int]) -> None:
        super().__init__()
        self.net = net
        self.size = tuple(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.net(x)


def build_for_data(
    model_cfg: dict[str, Any],
    *,
    in_channels: int,
    num_classes: int,
    native_size: tuple[int, int],
    image_size: int = 0,
) -> nn.Module:
    """Build `model_cfg` ({"name": ..., **options}) for the data; image_size 0 = native size.

    With image_size > 0 the model is built for image_size x image_size and wrapped in
    ResizeInput (its weights are then under the `net.` prefix).
    """
    options = {k: v for k, v in model_cfg.items() if k != "name"}
    if image_size == 0 or (image_size, image_size) == tuple(native_size):
        return build_model(
            model_cfg["name"],
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=tuple(native_size),
            **options,
        )
    if image_size < 0:
        raise UserError(f"data.image_size must be 0 (native) or a side in pixels, got {image_size}")
    size = (image_size, image_size)
    net = build_model(
        model_cfg["name"],
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=size,
        **options,
    )
    return ResizeInput(net, size)
