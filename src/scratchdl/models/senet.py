"""Squeeze-and-excitation networks (Hu et al., 2018, "Squeeze-and-Excitation Networks").

The SE block (`SqueezeExcite`, in blocks.py so every block file can use it) gates
each channel of a residual branch by sigmoid(fc2(relu(fc1(global average)))) before the
branch joins the shortcut. Every ResNet-family builder takes `se: bool`; this file
registers the SE variants by name: `se_resnet18`, `se_resnet50` (options: width, stem,
se_reduction = the bottleneck ratio r of the two fully connected layers, 16 in the paper).
"""

from __future__ import annotations

from torch import nn

from scratchdl.models._blocks import SqueezeExcite
from scratchdl.models._registry import register_model
from scratchdl.models.resnet import resnet

__all__ = ["SqueezeExcite", "se_resnet18", "se_resnet50"]


def _se_resnet(
    layers: list[int],
    block: str,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float,
    stem: str,
    se_reduction: int,
) -> nn.Module:
    return resnet(
        in_channels=in_channels,
        num_classes=num_classes,
        image_size=image_size,
        layers=layers,
        block=block,
        width=width,
        stem=stem,
        se=True,
        se_reduction=se_reduction,
    )


@register_model("se_resnet18")
def se_resnet18(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
    se_reduction: int = 16,
) -> nn.Module:
    return _se_resnet(
        [2, 2, 2, 2], "basic", in_channels, num_classes, image_size, width, stem, se_reduction
    )


@register_model("se_resnet50")
def se_resnet50(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    stem: str = "imagenet",
    se_reduction: int = 16,
) -> nn.Module:
    return _se_resnet(
        [3, 4, 6, 3], "bottleneck", in_channels, num_classes, image_size, width, stem, se_reduction
    )
