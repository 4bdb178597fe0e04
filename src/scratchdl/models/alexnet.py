"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), as in Dive into Deep Learning sec. 8.1.

Five convolutions (11x11 stride 4, 5x5, three 3x3) with three 3x3/2 max pools, then two
dropout-regularized hidden layers. `layout="book"` is the book's single-tower version (96, 256,
384, 384, 256 channels); `layout="torchvision"` is torchvision's (64, 192, 384, 256, 256, dropout
before each hidden layer) and with `width=1` has exactly its 61,100,840 parameters at ImageNet
size (module names match too, so its state_dict loads). An adaptive average pool before the
classifier (5x5 book, 6x6 torchvision) lets any large-enough image size reuse the same head.
Options: `width` scales every conv, `hidden` the two hidden layers, `stem_stride` the first
conv's stride (4 needs inputs of at least 65x65, 2 37x37, 1 23x23), `init` as in LeNet.
"""

from collections import OrderedDict

from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import check_fits, init_weights, scaled
from scratchdl.models._registry import register_model

# conv channels, first conv padding, pooled size before the classifier
LAYOUTS = {
    "book": ([96, 256, 384, 384, 256], 1, 5),
    "torchvision": ([64, 192, 384, 256, 256], 2, 6),
}


def hidden_layer(c_in: int, c_out: int, dropout: float, dropout_first: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(c_in, c_out), nn.ReLU()]
    return [nn.Dropout(dropout), *layers] if dropout_first else [*layers, nn.Dropout(dropout)]


@register_model("alexnet")
def alexnet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    width: float = 1.0,
    hidden: int = 4096,
    dropout: float = 0.5,
    layout: str = "book",
    stem_stride: int = 4,
    init: str = "default",
) -> nn.Module:
    if layout not in LAYOUTS:
        raise UserError(f"alexnet: unknown layout {layout!r} (allowed: {', '.join(LAYOUTS)})")
    channels, pad1, pooled = LAYOUTS[layout]
    c1, c2, c3, c4, c5 = (scaled(c, width) for c in channels)
    features = nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size=11, stride=stem_stride, padding=pad1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c1, c2, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c2, c3, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c3, c4, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c4, c5, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    check_fits(features, image_size, "alexnet", "stem_stride 4, 2, 1 need sides >= 65, 37 and 23")
    dropout_first = layout == "torchvision"  # torchvision: Dropout -> Linear -> ReLU
    classifier = nn.Sequential(
        *hidden_layer(c5 * pooled * pooled, hidden, dropout, dropout_first),
        *hidden_layer(hidden, hidden, dropout, dropout_first),
        nn.Linear(hidden, num_classes),
    )
    model = nn.Sequential(
        OrderedDict(
            features=features,
            avgpool=nn.AdaptiveAvgPool2d(pooled),
            flatten=nn.Flatten(),
            classifier=classifier,
        )
    )
    return init_weights(model, init)
