"""Binarized MNIST for Bernoulli likelihoods, the two standard ways.

- dynamic: every pixel of every training batch is redrawn as Bernoulli(intensity) each time it
  is seen (Salakhutdinov & Murray 2008's stochastic binarization, as in Burda et al. 2016);
  acts as data augmentation, and is what published VAE/IWAE numbers on "dynamic MNIST" use.
- fixed: the pixels are drawn once with a seed and kept, so every run (and every model) sees
  the very same binary images: comparable numbers, but overfits sooner.
Validation and test images are binarized once with a seed in both cases (a fixed test set).
"""

from __future__ import annotations

import torch

MODES = ("dynamic", "fixed", "none")


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x in [0, 1] -> a {0, 1} tensor with P(1) = x (float, same shape)."""
    return torch.bernoulli(x, generator=generator)


def fixed_binarization(x: torch.Tensor, seed: int) -> torch.Tensor:
    """The same Bernoulli draw for the same images and seed, on any machine (CPU generator)."""
    return binarize(x.cpu(), torch.Generator().manual_seed(seed)).to(x.device)
