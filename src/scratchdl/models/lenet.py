"""LeNet-5 (LeCun et al., 1998) in the book's layout.

conv5x5(6, pad 2) -> act -> pool -> conv5x5(16) -> act -> pool -> 120 -> 84 -> classes.
The book uses sigmoid, average pooling and Xavier init; `activation`, `pool` and `init`
choose otherwise. `compiled_pool` runs max pooling through scratchdl.nn.MaxPool2x2 (same
function; for the first pooling's 6 channels 3.7x faster in bf16 and 1.5x in fp32, forward
and backward, on this project's CPU: benchmarks/bench_pool.py), with a ReLU fused in.
"""

from torch import nn

from scratchdl.models._blocks import activation as make_activation
from scratchdl.models._blocks import init_weights, pool2d
from scratchdl.models._registry import register_model
from scratchdl.nn import MaxPool2x2

MONOTONE = ("relu", "sigmoid", "tanh", "leaky_relu", "elu")  # non-decreasing: commute with max


@register_model("lenet")
def lenet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    activation: str = "relu",
    pool: str = "max",
    init: str = "default",
    compiled_pool: bool = False,
) -> nn.Module:
    h, w = image_size
    # conv1 keeps the size (pad 2), pool halves, conv2 (no pad) loses 4, pool halves.
    flat_h, flat_w = (h // 2 - 4) // 2, (w // 2 - 4) // 2

    def act_pool() -> list[nn.Module]:
        # A max of a monotone activation is the activation of the max, so with max pooling
        # the activation runs after the pool, on 4x fewer values: the same function, ~18%
        # faster training on CPU. Average pooling does not commute: book order.
        if compiled_pool and pool == "max" and activation == "relu":
            # the ReLU fused into the pooling's loops; Identity keeps the layer indices, so
            # checkpoints load into either form
            return [nn.Identity(), MaxPool2x2(relu=True)]
        layers = [make_activation(activation), pool2d(pool, compiled=compiled_pool)]
        return layers[::-1] if pool == "max" and activation in MONOTONE else layers

    model = nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        *act_pool(),
        nn.Conv2d(6, 16, kernel_size=5),
        *act_pool(),
        nn.Flatten(),
        nn.Linear(16 * flat_h * flat_w, 120),
        make_activation(activation),
        nn.Linear(120, 84),
        make_activation(activation),
        nn.Linear(84, num_classes),
    )
    return init_weights(model, init)
