"""ResNet (He et al., 2016, "Deep Residual Learning for Image Recognition").

stem -> layer1..layerN (stages of residual blocks; every stage after the first halves the
size and its first block gets a 1x1 projection shortcut) -> global average pool -> fc.
Module names follow torchvision, so its `resnet18/34/50` state_dicts load strictly.

Options: `layers` (blocks per stage), `block` ("basic": two 3x3 convs; "bottleneck":
1x1 reduce, 3x3, 1x1 expand x4, stride on the 3x3 as in torchvision's "v1.5"), `width`
(multiplies every channel count), `stem` ("imagenet": 7x7 stride-2 conv + 3x3 max pool;
"small": one 3x3 stride-1 conv, no pool, for 28..96 pixel inputs), `se` (add a
squeeze-and-excitation gate to every block, see senet.py), `groups` and
`width_per_group` (grouped 3x3 bottleneck convs, see resnext.py).
The book's ResNet-18 (Fashion-MNIST at 96x96) is `resnet18` with stem "imagenet"; unlike
the book, convs feeding a BN have no bias and projection shortcuts get a BN (torchvision).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import (
    SqueezeExcite,
    check_options,
    scaled,
    stem_conv,
    torchvision_init,
)
from scratchdl.models._registry import register_model


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
    """Projection (1x1 conv + BN) when the shape changes, else None (identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """relu(x' + bn(conv3x3(relu(bn(conv3x3(x)))))): (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, se_reduction: int = 0):
        super().__init__()
        self.out_channels = out_channels
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SqueezeExcite(out_channels, se_reduction) if se_reduction else None  # 0: no SE
        self.downsample = shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (C_in -> mid) -> 3x3 grouped, stride s (mid -> mid) -> 1x1 (mid -> C_out), + x'."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        groups: int = 1,
        se_reduction: int = 0,
    ):
        super().__init__()
        self.out_channels = out_channels
        self.conv1 = conv1x1(in_channels, mid_channels)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = conv3x3(mid_channels, mid_channels, stride, groups)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = conv1x1(mid_channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(out_channels, se_reduction) if se_reduction else None
        self.downsample = shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + identity)


# make_block(in_channels, stage_channels, stride) -> a block with an `out_channels` attribute
BlockMaker = Callable[[int, int, int], nn.Module]


class ResNet(nn.Module):
    """(B, in_channels, H, W) -> (B, num_classes) logits, for any H, W (global pooling)."""

    def __init__(
        self,
        make_block: BlockMaker,
        layers: list[int],
        stage_channels: list[int],
        in_channels: int,
        stem_channels: int,
        num_classes: int,
        stem: str,
    ):
        super().__init__()
        self.conv1 = stem_conv(in_channels, stem_channels, stem)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        channels = stem_channels
        self.num_stages = len(layers)
        for i, (num_blocks, width) in enumerate(zip(layers, stage_channels, strict=True)):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(make_block(channels, width, stride))
                channels = blocks[-1].out_channels
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        torchvision_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def check_layers(layers: list[int]) -> None:
    if not layers or any(int(n) < 1 for n in layers):
        raise UserError(f"layers must be a non-empty list of positive block counts, got {layers}")


@register_model("resnet")
def resnet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    layers: list[int] = [2, 2, 2, 2],  # noqa: B006 - read-only default, exposed to --set
    block: str = "basic",
    width: float = 1.0,
    stem: str = "imagenet",
    se: bool = False,
    se_reduction: int = 16,
    groups: int = 1,
    width_per_group: int = 64,
) -> nn.Module:
    check_options(stem=stem, width=width)
    check_layers(layers)
    reduction = se_reduction if se else 0
    # stage widths 64, 128, 256, 512, ... (doubling), times the width multiplier
    stage_channels = [scaled(64 * 2**i, width) for i in range(len(layers))]
    if block == "basic":
        if groups != 1 or width_per_group != 64:
            raise UserError("groups/width_per_group need block='bottleneck' (basic has none)")

        def make_block(cin: int, c: int, stride: int) -> nn.Module:
            return BasicBlock(cin, c, stride, reduction)
    elif block == "bottleneck":

        def make_block(cin: int, c: int, stride: int) -> nn.Module:
            mid = max(1, int(c * width_per_group / 64)) * groups  # torchvision's formula
            return Bottleneck(cin, mid, 4 * c, stride, groups, reduction)
    else:
        raise UserError(f"unknown block {block!r} (allowed: basic, bottleneck)")
    return ResNet(
        make_block, layers, stage_channels, in_channels, scaled(64, width), num_classes, stem
    )


def _preset(layers: list[int], block: str) -> Callable[..., nn.Module]:
    def builder(
        *,
        in_channels: int,
        num_classes: int,
        image_size: tuple[int, int],
        width: float = 1.0,
        stem: str = "imagenet",
        se: bool = False,
        se_reduction: int = 16,
    ) -> nn.Module:
        return resnet(
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            layers=layers,
            block=block,
            width=width,
            stem=stem,
            se=se,
            se_reduction=se_reduction,
        )

    return builder


resnet18 = register_model("resnet18")(_preset([2, 2, 2, 2], "basic"))
resnet34 = register_model("resnet34")(_preset([3, 4, 6, 3], "basic"))
resnet50 = register_model("resnet50")(_preset([3, 4, 6, 3], "bottleneck"))
