"""Softmax regression: one linear layer on flattened pixels (the loss applies the softmax)."""

from torch import nn

from scratchdl.models._registry import register_model


@register_model("softmax")
def softmax_regression(
    *, in_channels: int, num_classes: int, image_size: tuple[int, int]
) -> nn.Module:
    features = in_channels * image_size[0] * image_size[1]
    return nn.Sequential(nn.Flatten(), nn.Linear(features, num_classes))
