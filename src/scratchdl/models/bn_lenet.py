"""LeNet with batch normalization (Ioffe & Szegedy, 2015), Dive into Deep Learning sec. 8.5.

conv5x5(6) -> BN -> act -> pool -> conv5x5(16) -> BN -> act -> pool -> 120 -> BN -> act
-> 84 -> BN -> act -> classes (no padding, as the book: 28x28 gives 16x4x4 features).
`impl="scratch"` uses `BatchNorm` below, written with autograd-tracked tensor ops;
`impl="torch"` uses nn.BatchNorm1d/2d (fused kernels, the fast default). `impl` is the one
spelling of the from-scratch switch on every model that has a hand-written variant. The book uses
sigmoid, average pooling and Xavier init; `activation`, `pool` and `init` choose otherwise.
"""

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models._blocks import activation as make_activation
from scratchdl.models._blocks import check_fits, init_weights, pool2d
from scratchdl.models._registry import register_model
from scratchdl.scratch.layers.norm import check_momentum


class BatchNorm(nn.Module):
    """Batch norm over (N, C) or (N, C, H, W), per channel, matching nn.BatchNorm1d/2d.

    Training normalizes with the batch mean and biased variance and updates the running
    stats as running = (1 - momentum) * running + momentum * batch_stat, storing the
    unbiased variance (torch's convention); eval normalizes with the running stats.
    `momentum` is the weight on the new batch; `course_momentum=True` reads it in the course's
    opposite convention (weight on the old average) and converts it, see `check_momentum`.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        course_momentum: bool = False,
    ):
        super().__init__()
        self.eps = eps
        self.momentum = check_momentum(momentum, course_momentum, "BatchNorm")
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.gamma.numel()
        if x.dim() not in (2, 4) or x.shape[1] != c:
            raise UserError(f"BatchNorm: expected (N, {c}) or (N, {c}, H, W), got {tuple(x.shape)}")
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        shape = (1, c) + (1,) * (x.dim() - 2)  # broadcast a (C,) vector against x
        if self.training:
            count = x.numel() // c
            if count < 2:
                raise UserError(f"BatchNorm: training needs > 1 value per channel, got {x.shape}")
            mean, var = x.mean(dims), x.var(dims, correction=0)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * count / (count - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return self.gamma.view(shape) * x_hat + self.beta.view(shape)


NORMS = {
    "scratch": (BatchNorm, BatchNorm),
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
