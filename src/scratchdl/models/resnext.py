"""ResNeXt (Xie et al., 2017, "Aggregated Residual Transformations for Deep Neural
Networks"): a ResNet whose bottleneck 3x3 conv is split into `groups` parallel paths
(a grouped convolution), so more channels cost the same FLOPs.

- `resnext50_32x4d`: torchvision's configuration (ResNet-50 layout, 32 groups of 4
  channels in the first stage, doubling per stage); its state_dict loads strictly.
- `resnext`: the book's ResNeXt block (d2l 8.6) stacked like ResNet-18. Each block maps C
  channels to C (no x4 expansion): 1x1 to C * bottleneck_mul, 3x3 grouped with
  `group_width` channels per group, 1x1 back to C. (The book's argument named `groups` is
  this per-group width.) Options: layers, group_width, bottleneck_mul, width, stem, se.
"""

from __future__ import annotations

from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import check_options, scaled
from scratchdl.models._registry import register_model
from scratchdl.models.resnet import Bottleneck, ResNet, check_layers, resnet


@register_model("resnext50_32x4d")
def resnext50_32x4d(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
    se: bool = False,
) -> nn.Module:
    return resnet(
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        layers=[3, 4, 6, 3],
        block="bottleneck",
        width=width,
        stem=stem,
        se=se,
        groups=32,
        width_per_group=4,
    )


@register_model("resnext")
def resnext(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    layers: list[int] = [2, 2, 2, 2],  # noqa: B006 - read-only default, exposed to --set
    group_width: int = 16,
    bottleneck_mul: float = 1.0,
    width: float = 1.0,
    stem: str = "imagenet",
    se: bool = False,
) -> nn.Module:
    check_options(stem=stem, width=width)
    check_layers(layers)
    if group_width < 1 or not bottleneck_mul > 0:
        raise UserError(
            f"need group_width >= 1 and bottleneck_mul > 0, got {group_width}, {bottleneck_mul}"
        )
    stage_channels = [scaled(64 * 2**i, width) for i in range(len(layers))]

    def make_block(cin: int, c: int, stride: int) -> nn.Module:
        # round the bottleneck to whole groups so the grouped conv divides evenly
        mid = scaled(c, bottleneck_mul, divisor=group_width)
        return Bottleneck(cin, mid, c, stride, groups=mid // group_width, se_reduction=16 * se)

    return ResNet(
        make_block, layers, stage_channels, in_channels, scaled(64, width), num_classes, stem
    )
