"""Network in Network (Lin, Chen & Yan, 2014), as in Dive into Deep Learning sec. 8.3.

Each NiN block is a spatial conv followed by two 1x1 convs (a per-pixel MLP), all with ReLU.
Three blocks (11x11 stride 4, 5x5, 3x3) with 3x3/2 max pools, dropout, and a last block
with one channel per class; global average pooling then gives the logits (no dense layer).
Options: `width` scales the 96/256/384 channels, `dropout`, `stem_stride` the first conv's
stride (4 as in the book needs inputs of at least 67x67, 2 39x39, 1 25x25), `init` as in LeNet,
`head_relu`: the book ends the class block with a ReLU, so class scores are >= 0 and a class
whose channel dies (always 0) can never be predicted again; we saw two of ten classes die
this way on Fashion-MNIST (0.67 accuracy). False drops that one ReLU.
"""

from torch import nn

from scratchdl.models._blocks import check_fits, init_weights, scaled
from scratchdl.models._registry import register_model


def nin_block(
    c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, last_relu: bool = True
) -> nn.Module:
    layers = [
        nn.Conv2d(c_in, c_out, kernel_size, stride, padding),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, kernel_size=1),
    ]
    return nn.Sequential(*layers, nn.ReLU()) if last_relu else nn.Sequential(*layers)


@register_model("nin")
def nin(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    dropout: float = 0.5,
    stem_stride: int = 4,
    init: str = "default",
    head_relu: bool = True,
) -> nn.Module:
    c1, c2, c3 = scaled(96, width), scaled(256, width), scaled(384, width)
    model = nn.Sequential(
        nin_block(in_channels, c1, kernel_size=11, stride=stem_stride, padding=0),
        nn.MaxPool2d(3, stride=2),
        nin_block(c1, c2, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(3, stride=2),
        nin_block(c2, c3, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(3, stride=2),
        nn.Dropout(dropout),
        nin_block(c3, num_classes, kernel_size=3, stride=1, padding=1, last_relu=head_relu),
        nn.AdaptiveAvgPool2d(1),  # global average pooling: one value per class channel
        nn.Flatten(),
    )
    check_fits(model, image_size, "nin", "stem_stride 4, 2, 1 need sides >= 67, 39 and 25")
    return init_weights(model, init)
