"""LeNet-5 (LeCun et al., 1998) in the book's layout.

conv5x5(6, pad 2) -> act -> pool -> conv5x5(16) -> act -> pool -> 120 -> 84 -> classes.
The book uses sigmoid, average pooling and Xavier init; `activation`, `pool` and `init`
choose otherwise.
"""

from torch import nn

from scratchdl.models.blocks import activation as make_activation
from scratchdl.models.blocks import init_weights, pool2d
from scratchdl.models.registry import register_model


@register_model("lenet")
def lenet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    activation: str = "relu",
    pool: str = "max",
    init: str = "default",
) -> nn.Module:
    h, w = image_size
    # conv1 keeps the size (pad 2), pool halves, conv2 (no pad) loses 4, pool halves.
    flat_h, flat_w = (h // 2 - 4) // 2, (w // 2 - 4) // 2
    model = nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        make_activation(activation),
        pool2d(pool),
        nn.Conv2d(6, 16, kernel_size=5),
        make_activation(activation),
        pool2d(pool),
        nn.Flatten(),
        nn.Linear(16 * flat_h * flat_w, 120),
        make_activation(activation),
        nn.Linear(120, 84),
        make_activation(activation),
        nn.Linear(84, num_classes),
    )
    return init_weights(model, init)
