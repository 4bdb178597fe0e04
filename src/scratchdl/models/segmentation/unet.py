"""U-Net (Ronneberger et al. 2015), small: an encoder of double 3x3 convs and 2x2 max pools,
a decoder that upsamples with 2x2 stride-2 transposed convs (scratchdl.nn.ConvTranspose2d)
and concatenates the encoder map of the same size (the skip connections), then a 1x1 conv to
the classes. Padded convs keep sizes, so the output is the input size (side divisible by
2^depth). Batch norm after each conv, trained from scratch.
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.models._registry import register_model
from scratchdl.nn import ConvTranspose2d


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
    )


class UNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 16, depth: int = 3) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.depth = depth
        self.down = nn.ModuleList([double_conv(3, widths[0])] + [
            double_conv(widths[i], widths[i + 1]) for i in range(depth)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(depth))])
        self.merge = nn.ModuleList([double_conv(2 * widths[i], widths[i])
                                    for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2**self.depth or x.shape[-2] % 2**self.depth:
            from scratchdl.errors import UserError

            raise UserError(f"unet: image sides must be divisible by {2**self.depth}, got "
                            f"{tuple(x.shape[-2:])}")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


@register_model("unet", kind="segmenter", options={"width": 16, "depth": 3})
def unet(*, num_classes: int, image_size: int = 0, width: int = 16, depth: int = 3) -> UNet:
    """U-Net: double-conv encoder, transposed-conv decoder with skip connections."""
    return UNet(num_classes, width, depth)
