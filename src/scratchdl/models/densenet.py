"""DenseNet (Huang et al., 2017, "Densely Connected Convolutional Networks").

A dense block's layer i sees the concatenation of the block input and every earlier
layer's output and adds `growth_rate` new channels; a transition layer between blocks
(BN, ReLU, 1x1 conv, 2x2 average pool) shrinks the channels by `compression` and halves
the size (rounding up, so small inputs never shrink to nothing). Module names follow
torchvision, so its densenet121 state_dict loads strictly.

- `densenet121`: DenseNet-BC, blocks [6, 12, 24, 16], growth 32, a 1x1 "bottleneck"
  (bn_size * growth channels) before each 3x3 conv.
- `densenet`: the book's small DenseNet (d2l 8.7): 4 blocks of 4 convs, growth 32,
  64-channel 7x7 stem, no 1x1 bottleneck (bn_size = 0), compression 0.5.
Options: block_config, growth_rate, bn_size, compression, width (scales growth and stem),
stem ("imagenet": 7x7 stride 2 + max pool; "small": 3x3 stride 1, no pool).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import check_options, scaled, stem_conv, torchvision_init
from scratchdl.models._registry import register_model


def bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int, n: str = "") -> list:
    """Pre-activation pieces with torchvision's names (norm1, relu1, conv1, ...)."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    return [
        (f"norm{n}", nn.BatchNorm2d(in_channels)),
        (f"relu{n}", nn.ReLU(inplace=True)),
        (f"conv{n}", conv),
    ]


class DenseLayer(nn.Sequential):
    """(B, C, H, W) -> (B, C + growth, H, W): the input with new features appended."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int):
        if bn_size > 0:  # DenseNet-BC: 1x1 down to bn_size * growth, then 3x3
            mid = bn_size * growth_rate
            parts = bn_relu_conv(in_channels, mid, 1, "1") + bn_relu_conv(mid, growth_rate, 3, "2")
        else:  # the book's plain conv block
            parts = bn_relu_conv(in_channels, growth_rate, 3, "1")
        super().__init__(OrderedDict(parts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, super().forward(x)], dim=1)


def dense_block(in_channels: int, num_layers: int, growth_rate: int, bn_size: int) -> nn.Module:
    layers = [
        (f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))
        for i in range(num_layers)
    ]
    return nn.Sequential(OrderedDict(layers))


def transition(in_channels: int, out_channels: int) -> nn.Module:
    # ceil_mode: odd sizes round up, so even a 1x1 map survives (e.g. 28x28 inputs with the
    # ImageNet stem); identical to torchvision whenever the size is even (224, 96, ...)
    parts = bn_relu_conv(in_channels, out_channels, 1) + [
        ("pool", nn.AvgPool2d(2, 2, ceil_mode=True))
    ]
    return nn.Sequential(OrderedDict(parts))


class DenseNet(nn.Module):
    """(B, in_channels, H, W) -> (B, num_classes) logits, for any H, W (global pooling)."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        block_config: list[int],
        growth_rate: int,
        stem_channels: int,
        bn_size: int,
        compression: float,
        stem: str,
    ):
        super().__init__()
        conv0 = stem_conv(in_channels, stem_channels, stem)
        parts = [
            ("conv0", conv0),
            ("norm0", nn.BatchNorm2d(stem_channels)),
            ("relu0", nn.ReLU(inplace=True)),
        ]
        if stem == "imagenet":
            parts.append(("pool0", nn.MaxPool2d(3, 2, 1)))
        channels = stem_channels
        for i, num_layers in enumerate(block_config):
            parts.append(
                (f"denseblock{i + 1}", dense_block(channels, num_layers, growth_rate, bn_size))
            )
            channels += num_layers * growth_rate
            if i < len(block_config) - 1:
                out = max(1, int(channels * compression))
                parts.append((f"transition{i + 1}", transition(channels, out)))
                channels = out
        parts.append((f"norm{len(block_config) + 1}", nn.BatchNorm2d(channels)))
        self.features = nn.Sequential(OrderedDict(parts))
        self.classifier = nn.Linear(channels, num_classes)
        torchvision_init(self, conv_mode="fan_in")
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.features(x))  # the last norm has no ReLU inside `features`
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _densenet(
    in_channels: int,
    num_classes: int,
    block_config: list[int],
    growth_rate: int,
    bn_size: int,
    compression: float,
    width: float,
    stem: str,
) -> nn.Module:
    check_options(stem=stem, width=width)
    if not block_config or any(int(n) < 1 for n in block_config):
        raise UserError(f"block_config must list positive layer counts, got {block_config}")
    if not 0 < compression <= 1 or growth_rate < 1 or bn_size < 0:
        raise UserError(
            "need 0 < compression <= 1, growth_rate >= 1, bn_size >= 0; "
            f"got {compression}, {growth_rate}, {bn_size}"
        )
    return DenseNet(
        in_channels,
        num_classes,
        block_config,
        scaled(growth_rate, width),
        scaled(64, width),
        bn_size,
        compression,
        stem,
    )


@register_model("densenet")
def densenet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    block_config: list[int] = [4, 4, 4, 4],  # noqa: B006 - read-only default, exposed to --set
    growth_rate: int = 32,
    bn_size: int = 0,
    compression: float = 0.5,
    width: float = 1.0,
    stem: str = "imagenet",
) -> nn.Module:
    return _densenet(
        in_channels, num_classes, block_config, growth_rate, bn_size, compression, width, stem
    )


@register_model("densenet121")
def densenet121(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
) -> nn.Module:
    return _densenet(in_channels, num_classes, [6, 12, 24, 16], 32, 4, 0.5, width, stem)
