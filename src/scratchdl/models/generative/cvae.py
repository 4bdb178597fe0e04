"""Conditional VAE (Sohn et al. 2015): the class label, one-hot, joins the encoder's features
and the latent code, so p(x|z, y) can be asked for a given digit: z ~ N(0, I), y chosen."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.models.generative.vae import VAE, VAE_OPTIONS


class CVAE(VAE):
    """A VAE whose encoder and decoder both see one_hot(y)."""

    conditional = True

    def _join(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("a conditional VAE needs labels y")
        return torch.cat([h, F.one_hot(y, self.num_classes).to(h.dtype)], dim=1)

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n images of the given labels (default: 0, 1, ..., 9, 0, 1, ... in turn)."""
        dev = next(self.parameters()).device
        if labels is None:
            labels = torch.arange(n, device=dev) % self.num_classes
        return super().sample(n, labels.to(dev), generator)


@register_model("cvae", "generative", options=VAE_OPTIONS)
def cvae(*, num_classes: int = 10, **options: Any) -> CVAE:
    """Conditional VAE: one-hot label fed to encoder and decoder (Sohn et al. 2015)."""
    return CVAE(num_classes=num_classes, **options)
