"""A deterministic autoencoder: conv encoder to a small code, transposed-conv decoder back.

Trained by per-pixel cross-entropy (summed over pixels, nats per image) on intensities in
[0, 1]. It has no prior to sample from, so it keeps running mean/variance of its codes (like
batch norm's running stats) and `sample` decodes z drawn from that diagonal Gaussian: the
samples show why a VAE's KL term matters (holes in the code space decode to blurs).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.models.generative._nets import conv_features, decoder


class Autoencoder(nn.Module):
    conditional = False

    def __init__(
        self, latent_dim: int = 16, hidden: int = 256, num_classes: int = 10, momentum: float = 0.01
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, (1, 28, 28)
        self.momentum = momentum
        self.enc = nn.Sequential(
            conv_features(), nn.Linear(64 * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim)
        )
        self.dec = decoder("conv", latent_dim, hidden, 784)
        self.register_buffer("z_mean", torch.zeros(latent_dim))
        self.register_buffer("z_var", torch.ones(latent_dim))

    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.enc(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(z)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.enc(x)
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.z_mean.lerp_(z.mean(0), m)
                self.z_var.lerp_(z.var(0, unbiased=False), m)
        recon = F.binary_cross_entropy_with_logits(self.dec(z), x, reduction="none")
        recon = recon.flatten(1).sum(1).mean()
        return {"loss": recon, "recon": recon}

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.dec(self.enc(x)))

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode z ~ N(running mean, running variance) of the training codes."""
        eps = torch.randn(n, self.latent_dim, generator=generator, device=self.z_mean.device)
        return torch.sigmoid(self.dec(self.z_mean + self.z_var.sqrt() * eps))


@register_model(
    "autoencoder", "generative", options={"latent_dim": 16, "hidden": 256, "momentum": 0.01}
)
def autoencoder(*, num_classes: int = 10, **options) -> Autoencoder:
    """Conv autoencoder (no prior; samples from a Gaussian fit to its codes)."""
    return Autoencoder(num_classes=num_classes, **options)
