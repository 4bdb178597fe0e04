"""Weight initializers written from their formulas: Xavier/Glorot, Kaiming/MSRA, and zero-init
of the last normalization layer in a residual branch.

Fans follow torch's convention for a weight of shape (out, in, *kernel):
    fan_in = in * prod(kernel),  fan_out = out * prod(kernel)
(a Linear weight is (out_features, in_features); a Conv weight is (out_ch, in_ch / groups, kH, kW)).
Sampling uses torch's own uniform_/normal_ so that, given the same generator state, the result
equals torch.nn.init bit for bit; what is written here is the scale.
"""

import math

import torch
from torch import Tensor, nn

from scratchdl.errors import UserError

NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
LINEAR_LIKE = (
    "linear", "identity", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid",
)  # fmt: skip


def fan_in_and_fan_out(weight: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel); needs at least 2 dimensions."""
    if weight.dim() < 2:
        raise UserError(
            f"fan-in/fan-out need a weight with >= 2 dims (out, in, *kernel), got shape "
            f"{tuple(weight.shape)}; initialize biases with zeros or a plain distribution"
        )
    receptive_field = math.prod(weight.shape[2:])  # 1 for a Linear weight
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def calculate_gain(nonlinearity: str, a: float | None = None) -> float:
    """The factor that keeps activations' variance stable through `nonlinearity`.

    relu: sqrt(2) (half the inputs are zeroed); leaky_relu with slope a: sqrt(2 / (1 + a^2));
    tanh: 5/3; selu: 3/4; linear, conv and sigmoid: 1 (torch's values).
    """
    if nonlinearity in LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if a is None else a
        if isinstance(slope, bool) or not isinstance(slope, int | float):
            raise UserError(f"leaky_relu slope a must be a number, got {slope!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise UserError(
        f"unknown nonlinearity {nonlinearity!r}; choose one of "
        f"{', '.join(LINEAR_LIKE + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def _check_weight(weight: Tensor) -> None:
    if not isinstance(weight, Tensor) or not weight.is_floating_point():
        got = weight.dtype if isinstance(weight, Tensor) else type(weight).__name__
        raise UserError(f"initializers need a floating-point Tensor, got {got}")
    fan_in_and_fan_out(weight)  # raises on 1-D weights


@torch.no_grad()
def xavier_uniform_(
    weight: Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Fill U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    Variance b^2 / 3 = gain^2 * 2 / (fan_in + fan_out): the compromise between keeping the
    forward (fan_in) and the backward (fan_out) signal variance constant."""
    _check_weight(weight)
    if weight.numel() == 0:
        return weight
    fan_in, fan_out = fan_in_and_fan_out(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return weight.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def xavier_normal_(
    weight: Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Fill N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_weight(weight)
    if weight.numel() == 0:
        return weight
    fan_in, fan_out = fan_in_and_fan_out(weight)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return weight.normal_(0.0, std, generator=generator)


def kaiming_std(
    weight: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> float:
    """std = gain(nonlinearity, a) / sqrt(fan) (He et al., 2015).

    mode "fan_in" keeps the forward activations' variance, "fan_out" the backward gradients'.
    torch's default nonlinearity leaky_relu with a = 0 is the same as relu: gain sqrt(2)."""
    if mode not in ("fan_in", "fan_out"):
        raise UserError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(weight)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:  # an empty weight: nothing will be sampled
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@torch.no_grad()
def kaiming_uniform_(
    weight: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill U(-b, b) with b = sqrt(3) * kaiming_std (a uniform with that std)."""
    _check_weight(weight)
    bound = math.sqrt(3.0) * kaiming_std(weight, a, mode, nonlinearity)
    return weight.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def kaiming_normal_(
    weight: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill N(0, kaiming_std^2)."""
    _check_weight(weight)
    return weight.normal_(0.0, kaiming_std(weight, a, mode, nonlinearity), generator=generator)


@torch.no_grad()
def zero_init_last_norm_(
    block: nn.Module, skip: tuple[str, ...] = ("downsample", "shortcut")
) -> nn.Module:
    """Zero the weight (gamma) of the last norm layer of a residual block's branch; return it.

    The block then starts as the identity (out = x + 0), which eases training of deep
    residual nets (Goyal et al., 2017). "Last" is in module registration order
    (`block.named_modules()`), among BatchNorm*/SyncBatchNorm, LayerNorm and GroupNorm.
    Sub-modules under a child named in `skip` are ignored: torchvision and most code register
    the shortcut's projection (conv + BN) as `downsample`/`shortcut` after the branch, and its
    norm must stay as is. Applied to every BasicBlock/Bottleneck of torchvision's ResNet this
    zeroes the same norms as `resnet(zero_init_residual=True)`.
    """
    last = None
    for name, module in block.named_modules():
        if name.split(".")[0] in skip:
            continue
        if isinstance(module, NORM_TYPES):
            last = module
    if last is None:
        raise UserError(
            f"{type(block).__name__} has no BatchNorm/LayerNorm/GroupNorm outside {skip}; "
            "pass the residual block itself (not its shortcut)"
        )
    if getattr(last, "weight", None) is None:
        raise UserError(
            f"the last norm layer of {type(block).__name__} ({type(last).__name__}) has no "
            "weight to zero; build it with affine=True / elementwise_affine=True"
        )
    last.weight.zero_()
    return last
