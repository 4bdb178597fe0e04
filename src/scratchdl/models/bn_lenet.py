"""LeNet with batch normalization (Ioffe & Szegedy, 2015), Dive into Deep Learning sec. 8.5.

conv5x5(6) -> BN -> act -> pool -> conv5x5(16) -> BN -> act -> pool -> 120 -> BN -> act
-> 84 -> BN -> act -> classes (no padding, as the book: 28x28 gives 16x4x4 features).
`impl="scratch"` uses scratchdl.nn.batch_norm.AutogradBatchNorm (autograd-tracked tensor ops);
`impl="torch"` uses nn.BatchNorm1d/2d (fused kernels, the fast default). `impl` is the one
spelling of the from-scratch switch on every model that has a hand-written variant. The book uses
sigmoid, average pooling and Xavier init; `activation`, `pool` and `init` choose otherwise.
"""

from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import activation as make_activation
from scratchdl.models._blocks import check_fits, init_weights, pool2d
from scratchdl.models._registry import register_model
from scratchdl.nn.batch_norm import AutogradBatchNorm

NORMS = {
    "scratch": (AutogradBatchNorm, AutogradBatchNorm),
    "torch": (nn.BatchNorm2d, nn.BatchNorm1d),
}


@register_model("bn_lenet")
def bn_lenet(
    *,
    in_channels: int,
    num_classes: int,
    image_size: tuple[int, int],
    activation: str = "sigmoid",
    pool: str = "avg",
    impl: str = "torch",
    init: str = "default",
) -> nn.Module:
    if impl not in NORMS:
        raise UserError(f"bn_lenet: unknown impl {impl!r} (allowed: {', '.join(NORMS)})")
    norm2d, norm1d = NORMS[impl]
    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5),
        norm2d(6),
        make_activation(activation),
        pool2d(pool),
        nn.Conv2d(6, 16, kernel_size=5),
        norm2d(16),
        make_activation(activation),
        pool2d(pool),
    )
    check_fits(features, image_size, "bn_lenet", "each side must be >= 16")
    h, w = ((image_size[0] - 4) // 2 - 4) // 2, ((image_size[1] - 4) // 2 - 4) // 2
    model = nn.Sequential(
        *features,
        nn.Flatten(),
        nn.Linear(16 * h * w, 120),
        norm1d(120),
        make_activation(activation),
        nn.Linear(120, 84),
        norm1d(84),
        make_activation(activation),
        nn.Linear(84, num_classes),
    )
    return init_weights(model, init)
