"""Small pieces shared by the model files: activation, pooling and init chosen by name; channel
scaling and an early size check for the classic CNNs; conv-bn-act, channel rounding, the
squeeze-and-excitation block, option checks and torchvision's initialisation for the
ResNet family."""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.nn.max_pool import MaxPool2x2

# ----------------------------------------------------------------------------- by name

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation {name!r} (allowed: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


def pool2d(name: str, kernel_size: int = 2, stride: int = 2, compiled: bool = False) -> nn.Module:
    """`compiled`: 2x2 max pooling through scratchdl.nn.MaxPool2x2's compiled CPU loops."""
    if name == "max" and compiled and kernel_size == stride == 2:
        return MaxPool2x2()
    if name == "max":
        return nn.MaxPool2d(kernel_size, stride)
    if name == "avg":
        return nn.AvgPool2d(kernel_size, stride)
    raise UserError(f"unknown pooling {name!r} (allowed: max, avg)")


INITS = ("default", "xavier")


def init_weights(model: nn.Module, scheme: str) -> nn.Module:
    """'default' keeps torch's init; 'xavier' is the book's Xavier-uniform on conv/linear."""
    if scheme not in INITS:
        raise UserError(f"unknown init {scheme!r} (allowed: {', '.join(INITS)})")
    if scheme == "xavier":
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
    return model


# ----------------------------------------------------------------------------- classic CNNs


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def check_fits(layers: nn.Module, image_size: tuple[int, int], model: str, hint: str) -> None:
    """Raise a UserError at build time if `image_size` shrinks to nothing inside `layers`.

    Walks the Conv2d / MaxPool2d / AvgPool2d modules in registration order, so it is only
    valid for a plain chain (AlexNet, VGG, NiN, LeNet), not for parallel branches.
    """
    h, w = image_size
    for m in layers.modules():
        if not isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        (kh, kw), (sh, sw), (ph, pw) = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding)
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise UserError(
                f"{model}: image_size {tuple(image_size)} is too small (a {kh}x{kw} "
                f"{type(m).__name__} meets a {h}x{w} feature map); {hint}"
            )
        h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


# ----------------------------------------------------------------------------- ResNet family

STEMS = ("imagenet", "small")


def check_options(*, stem: str, width: float) -> None:
    if stem not in STEMS:
        raise UserError(f"unknown stem {stem!r} (allowed: {', '.join(STEMS)})")
    if not width > 0:
        raise UserError(f"width is a channel multiplier and must be > 0, got {width}")


def scaled(channels: int, width: float, divisor: int = 1) -> int:
    """`channels * width` rounded to a multiple of `divisor`, at least `divisor` (width 0.25
    with divisor 1 is the book's quarter VGG)."""
    return max(divisor, int(round(channels * width / divisor)) * divisor)


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet's rounding (TF reference): nearest multiple of `divisor`, never < 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias: the BN shift replaces it) -> BN -> act. Indices 0/1/2 as in torchvision."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            (kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


def stem_conv(in_channels: int, out_channels: int, stem: str) -> nn.Conv2d:
    """ "imagenet": 7x7 stride 2 (halves the size); "small": 3x3 stride 1 (keeps it)."""
    if stem == "imagenet":
        return nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False)
    return nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., 2018): reweight each channel by a gate in (0, 1)
    computed from the global average of all channels.

    (B, C, H, W) -> (B, C, H, W): x * sigmoid(fc2(relu(fc1(mean_hw(x))))), with
    fc1: C -> C // reduction and fc2 back to C.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3))  # (B, C)
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))
        return x * gate[:, :, None, None]


def torchvision_init(model: nn.Module, conv_mode: str = "fan_out") -> nn.Module:
    """He-normal convs, BN at identity (weight 1, bias 0); linear layers keep torch's init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model
