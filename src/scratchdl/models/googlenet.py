"""GoogLeNet / Inception v1 (Szegedy et al., 2015), as in Dive into Deep Learning sec. 8.4.

A stem (7x7/2 conv, 1x1 and 3x3 convs, max pools), nine Inception blocks in three stages
separated by 3x3/2 max pools, global average pooling and one dense layer. An Inception block
runs four branches on the same input and concatenates them on channels: 1x1; 1x1 -> 3x3;
1x1 -> 5x5; 3x3 max pool -> 1x1. Every branch keeps H x W, so the book's layout runs on any
size (it trains at 96x96). `layout="torchvision"` is torchvision's googlenet without aux
classifiers: each conv is conv(no bias) + BatchNorm(eps=1e-3) + ReLU, the "5x5" branch uses a
3x3 kernel, pools use ceil_mode and the last is 2x2; with `width=1` and 1000 classes it has
exactly torchvision's 6,624,904 parameters (torchvision adds `dropout=0.2`, off by default).
Options: `width` scales every channel count, `dropout` before the dense layer, `init`.
"""

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import init_weights, scaled
from scratchdl.models._registry import register_model

# Per Inception block: (1x1, (3x3 reduce, 3x3), (5x5 reduce, 5x5), pool projection).
STAGE3 = [(64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)]
STAGE4 = [
    (192, (96, 208), (16, 48), 64),
    (160, (112, 224), (24, 64), 64),
    (128, (128, 256), (24, 64), 64),
    (112, (144, 288), (32, 64), 64),
    (256, (160, 320), (32, 128), 128),
]
STAGE5 = [(256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)]
LAYOUTS = ("book", "torchvision")


def conv_block(
    c_in: int, c_out: int, kernel_size: int, stride: int = 1, bn: bool = False
) -> nn.Module:
    padding = kernel_size // 2  # "same" size at stride 1
    if not bn:
        return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, stride, padding), nn.ReLU())
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size, stride, padding, bias=False),
        nn.BatchNorm2d(c_out, eps=0.001),
        nn.ReLU(),
    )


class Inception(nn.Module):
    """(N, c_in, H, W) -> (N, c1 + c2[1] + c3[1] + c4, H, W)."""

    def __init__(self, c_in: int, c1: int, c2: tuple, c3: tuple, c4: int, torchvision: bool):
        super().__init__()
        wide = 3 if torchvision else 5

        def conv(c_in: int, c_out: int, kernel_size: int) -> nn.Module:
            return conv_block(c_in, c_out, kernel_size, bn=torchvision)

        self.branch1 = conv(c_in, c1, 1)
        self.branch2 = nn.Sequential(conv(c_in, c2[0], 1), conv(c2[0], c2[1], 3))
        self.branch3 = nn.Sequential(conv(c_in, c3[0], 1), conv(c3[0], c3[1], wide))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=torchvision), conv(c_in, c4, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], dim=1)


@register_model("googlenet")
def googlenet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    layout: str = "book",
    dropout: float = 0.0,
    init: str = "default",
) -> nn.Module:
    if layout not in LAYOUTS:
        raise UserError(f"googlenet: unknown layout {layout!r} (allowed: {', '.join(LAYOUTS)})")
    tv = layout == "torchvision"

    def pool(kernel_size: int = 3) -> nn.Module:
        if tv:  # torchvision: no padding, round up
            return nn.MaxPool2d(kernel_size, stride=2, ceil_mode=True)
        return nn.MaxPool2d(3, stride=2, padding=1)

    def stage(blocks: list, c_in: int) -> tuple[list[nn.Module], int]:
        layers = []
        for c1, c2, c3, c4 in blocks:
            c1, c4 = scaled(c1, width), scaled(c4, width)
            c2, c3 = tuple(scaled(c, width) for c in c2), tuple(scaled(c, width) for c in c3)
            layers.append(Inception(c_in, c1, c2, c3, c4, torchvision=tv))
            c_in = c1 + c2[1] + c3[1] + c4
        return layers, c_in

    c64, c192 = scaled(64, width), scaled(192, width)
    stem = [conv_block(in_channels, c64, 7, stride=2, bn=tv), pool()]
    stem += [conv_block(c64, c64, 1, bn=tv), conv_block(c64, c192, 3, bn=tv), pool()]
    b3, c = stage(STAGE3, c192)
    b4, c = stage(STAGE4, c)
    b5, c = stage(STAGE5, c)
    model = nn.Sequential(
        *stem,
        *b3,
        pool(),
        *b4,
        pool(2 if tv else 3),
        *b5,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c, num_classes),
    )
    return init_weights(model, init)
