"""Variational autoencoder (Kingma & Welling 2014) with a Bernoulli decoder for binarized MNIST.

The encoder gives q(z|x) = N(mu, diag(exp(logvar))); z = mu + exp(logvar / 2) * eps keeps the
sample differentiable (reparameterization); the loss is the negative ELBO in nats per image:
  -log p(x|z) (Bernoulli cross-entropy summed over pixels) + KL(q(z|x) || N(0, I)),
the KL in closed form. `log_importance_weights` gives the IWAE bound of Burda et al. 2016:
  log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],  tighter as k grows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.models._registry import register_model
from scratchdl.models.generative._nets import conv_features, decoder, encoder

VAE_OPTIONS: dict[str, Any] = {"latent_dim": 50, "hidden": 200, "arch": "mlp"}
LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, in closed form (no sampling)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) summed over every dimension but the first (x in {0, 1})."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


class VAE(nn.Module):
    """Gaussian encoder, Bernoulli decoder; `arch` "mlp" (Burda et al.) or "conv"."""

    conditional = False

    def __init__(
        self, latent_dim: int = 50, hidden: int = 200, arch: str = "mlp", num_classes: int = 10
    ) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, (1, 28, 28)
        extra = num_classes if self.conditional else 0
        self.trunk = conv_features() if arch == "conv" else nn.Flatten()
        self.enc = encoder(arch, 784, hidden, 2 * latent_dim, extra)
        self.dec = decoder(arch, latent_dim + extra, hidden, 784)

    def _join(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Where a conditional model appends the label (see cvae.py); here: nothing."""
        return h

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(mu, logvar) of q(z|x), each [N, latent_dim]."""
        return self.enc(self._join(self.trunk(x), y)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Bernoulli logits [N, 1, 28, 28] of p(x|z)."""
        return self.dec(self._join(z, y))

    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code of x (the posterior mean), for interpolations and maps."""
        return self.encode(x, y)[0]

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        recon = -bernoulli_log_prob(self.decode(z, y), x)
        kl = gaussian_kl(mu, logvar).sum(1)
        return {"loss": (recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decode(self.embed(x, y), y))

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n images (Bernoulli means) decoded from z ~ N(0, I)."""
        dev = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=dev)
        return torch.sigmoid(self.decode(z, labels))

    def log_importance_weights(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        k: int,
        chunk: int = 500,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """[N, k] log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x); decoded `chunk` samples at a time
        so that k = 5000 fits in memory."""
        mu, logvar = self.encode(x, y)
        std = torch.exp(0.5 * logvar)
        out = []
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn(c, *mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + std * eps  # [c, N, D]
            yc = None if y is None else y.repeat(c)
            logits = self.decode(z.flatten(0, 1), yc)
            log_px = bernoulli_log_prob(logits, x.repeat(c, 1, 1, 1)).view(c, -1)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
            out.append(log_px + log_pz - log_qz)
        return torch.cat(out).T


def iwae_nll(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    k: int,
    chunk: int = 500,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """-log p(x) estimated by the k-sample importance-weighted bound, per example (nats).
    k = 1 is the (single-sample) negative ELBO; the estimate falls towards -log p(x) as k grows."""
    w = model.log_importance_weights(x, y, k, chunk=chunk, generator=generator)
    return -(torch.logsumexp(w, dim=1) - math.log(k))


@register_model("vae", "generative", options=VAE_OPTIONS)
def vae(*, num_classes: int = 10, **options: Any) -> VAE:
    """VAE, Gaussian latent, Bernoulli decoder (Kingma & Welling 2014; Burda et al.'s MLP)."""
    return VAE(num_classes=num_classes, **options)
