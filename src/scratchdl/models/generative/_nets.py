"""Encoder and decoder bodies shared by the generative models: an MLP (Burda et al. 2016's
784-200-200 tanh layout) or a small conv net (two stride-2 convs / two transposed convs)."""

from __future__ import annotations

from torch import nn


def encoder(arch: str, in_features: int, hidden: int, out: int, extra: int = 0) -> nn.Module:
    """x [N, 1, 28, 28] (+ `extra` features concatenated after flattening) -> [N, out]."""
    if arch == "mlp":
        return nn.Sequential(
            nn.Linear(in_features + extra, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, out),
        )
    if arch == "conv":
        return nn.Sequential(
            nn.Linear(64 * 7 * 7 + extra, hidden),
            nn.ReLU(),
            nn.Linear(hidden, out),
        )
    raise ValueError(f"arch must be mlp or conv, got {arch!r}")


def conv_features() -> nn.Module:
    """[N, 1, 28, 28] -> [N, 64*7*7]: the conv encoder's trunk (labels join after it)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
    )


def decoder(arch: str, in_features: int, hidden: int, out_features: int) -> nn.Module:
    """z [N, in_features] -> logits [N, 1, 28, 28]."""
    if arch == "mlp":
        return nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, out_features),
            nn.Unflatten(1, (1, 28, 28)),
        )
    if arch == "conv":
        return nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 64 * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )
    raise ValueError(f"arch must be mlp or conv, got {arch!r}")
