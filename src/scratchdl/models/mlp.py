"""Multilayer perceptron: flatten, then hidden layers of `activation` with optional dropout."""

from torch import nn

from scratchdl.models._blocks import activation as make_activation
from scratchdl.models._registry import register_model


@register_model("mlp")
def mlp(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    hidden: list[int] = [256],  # noqa: B006 - read-only default, exposed to --set
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_channels * image_size[0] * image_size[1]
    for h in hidden:
        layers += [nn.Linear(width, h), make_activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
