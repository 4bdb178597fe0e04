"""MobileNets: convolutions factored to be cheap.

- `mobilenet_v1` (Howard et al., 2017): a 3x3 conv, then 13 depthwise separable blocks
  (3x3 depthwise conv + BN + ReLU, 1x1 pointwise conv + BN + ReLU), global pool, fc.
- `mobilenet_v2` (Sandler et al., 2018): inverted residuals: 1x1 expand by t, 3x3
  depthwise, 1x1 linear projection (no ReLU), with a shortcut when the shape is kept.
  Module names follow torchvision, so its mobilenet_v2 state_dict loads strictly.
Options: `width` (the paper's width multiplier alpha; channels rounded to multiples of 8),
`stem` ("imagenet": stride-2 first conv, 32x total downsampling; "small": the first conv
and the first stride-2 stage use stride 1, 8x in all, for 28..96 pixel inputs),
`dropout` before the classifier (v2: 0.2 as in torchvision).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.models._blocks import check_options, conv_bn_act, make_divisible
from scratchdl.models._registry import register_model

# MobileNet v1 body after the stem: (output channels, stride) per depthwise separable block
V1_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [(1024, 2), (1024, 1)]
)
# MobileNet v2: (expansion t, output channels c, repeats n, first stride s), Table 2
V2_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def depthwise_separable(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """(B, C_in, H, W) -> (B, C_out, H/s, W/s): one 3x3 filter per channel, then a 1x1 mix."""
    return nn.Sequential(
        conv_bn_act(in_channels, in_channels, 3, stride, groups=in_channels),
        conv_bn_act(in_channels, out_channels, 1),
    )


class InvertedResidual(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H/s, W/s); adds the input when stride 1 and C_in = C_out."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers = [conv_bn_act(in_channels, hidden, 1, act=nn.ReLU6)] if expansion != 1 else []
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            # linear bottleneck: a ReLU here would destroy information in few channels
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_shortcut else self.conv(x)


class MobileNet(nn.Module):
    """features (B, in_channels, H, W) -> (B, C, h, w) -> global pool -> classifier."""

    def __init__(self, features: list[nn.Module], channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):  # torchvision's small-normal classifier init
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def _small_strides(strides: list[int], stem: str) -> list[int]:
    """The "small" stem keeps full resolution through the first stride-2 stage too."""
    if stem == "small":
        strides = list(strides)
        strides[strides.index(2)] = 1
    return strides


@register_model("mobilenet_v1")
def mobilenet_v1(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
    dropout: float = 0.0,
) -> nn.Module:
    check_options(stem=stem, width=width)
    channels = make_divisible(32 * width)
    features = [conv_bn_act(in_channels, channels, 3, 2 if stem == "imagenet" else 1)]
    strides = _small_strides([s for _, s in V1_BLOCKS], stem)
    for (out, _), stride in zip(V1_BLOCKS, strides, strict=True):
        features.append(depthwise_separable(channels, make_divisible(out * width), stride))
        channels = make_divisible(out * width)
    return MobileNet(features, channels, num_classes, dropout)


@register_model("mobilenet_v2")
def mobilenet_v2(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
    dropout: float = 0.2,
) -> nn.Module:
    check_options(stem=stem, width=width)
    channels = make_divisible(32 * width)
    features = [conv_bn_act(in_channels, channels, 3, 2 if stem == "imagenet" else 1, act=nn.ReLU6)]
    strides = _small_strides([s for *_, s in V2_STAGES], stem)
    for (t, c, n, _), stride in zip(V2_STAGES, strides, strict=True):
        out = make_divisible(c * width)
        for i in range(n):
            features.append(InvertedResidual(channels, out, stride if i == 0 else 1, t))
            channels = out
    last = make_divisible(1280 * max(1.0, width))  # the paper never thins the last layer
    features.append(conv_bn_act(channels, last, 1, act=nn.ReLU6))
    return MobileNet(features, last, num_classes, dropout)
