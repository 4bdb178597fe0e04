"""Small shared pieces for model files: activation and pooling chosen by name."""

from __future__ import annotations

from torch import nn

from scratchdl.errors import UserError

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


def pool2d(name: str, kernel_size: int = 2, stride: int = 2) -> nn.Module:
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
