"""VGG (Simonyan & Zisserman, 2015), as in Dive into Deep Learning sec. 8.2.

Blocks of 3x3 convolutions (padding 1) each ending in a 2x2 max pool, then two hidden
layers with dropout. `arch` is the number of convs per block and `channels` their widths:
VGG-11 is arch [1, 1, 2, 2, 2] (the default), VGG-16 [2, 2, 3, 3, 3], both with channels
[64, 128, 256, 512, 512]. `width` scales the channels (the book's Fashion-MNIST VGG is
width=0.25), `batch_norm` adds BN after each conv (torchvision's vgg*_bn), `hidden` and
`dropout` set the classifier, `pooled` the adaptive average pool before it (7 as in
torchvision: vgg11 then has exactly 132,863,336 parameters at ImageNet size, vgg16
138,357,544, and torchvision's state_dict loads). Needs image sides of at least 2**len(arch).
"""

from collections import OrderedDict

from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import check_fits, init_weights, scaled
from scratchdl.models._registry import register_model


def vgg_block(c_in: int, c_out: int, num_convs: int, batch_norm: bool) -> list[nn.Module]:
    """A flat list (not a Sequential) so module names match torchvision's `features.N`."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
        c_in = c_out
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return layers


@register_model("vgg")
def vgg(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    arch: list[int] = [1, 1, 2, 2, 2],  # noqa: B006 - read-only default, exposed to --set
    channels: list[int] = [64, 128, 256, 512, 512],  # noqa: B006
    width: float = 1.0,
    batch_norm: bool = False,
    hidden: int = 4096,
    dropout: float = 0.5,
    pooled: int = 7,
    init: str = "default",
) -> nn.Module:
    if len(arch) != len(channels) or not arch:
        raise UserError(
            f"vgg: arch and channels need one entry per block, got {len(arch)} and "
            f"{len(channels)}; e.g. arch=[1,1,2,2,2] channels=[64,128,256,512,512]"
        )
    layers: list[nn.Module] = []
    c_in = in_channels
    for num_convs, c in zip(arch, channels, strict=True):
        layers += vgg_block(c_in, scaled(c, width), num_convs, batch_norm)
        c_in = scaled(c, width)
    features = nn.Sequential(*layers)
    check_fits(features, image_size, "vgg", f"each side must be >= {2 ** len(arch)}")
    classifier = nn.Sequential(
        nn.Linear(c_in * pooled * pooled, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
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
