"""Generative models (kind "generative"): autoencoder, VAE, conditional VAE, VQ-VAE, DCGAN,
PixelCNN, DDPM.

Every model here is an nn.Module with the same small interface, which the generative task,
`scratchdl sample` and the Frechet-distance tool rely on (a new model only implements it):

- `loss(x, y) -> dict`: "loss" (a per-example mean, in nats for likelihood models) plus any
  named parts ("recon", "kl"); x is [N, 1, 28, 28] in [0, 1] (binarized for Bernoulli models),
  y the int64 labels (ignored by unconditional models).
- `sample(n, labels=None, generator=None) -> [n, 1, H, W]` in [0, 1] (Bernoulli means).
- `reconstruct(x, y) -> [N, 1, H, W]` in [0, 1].
- attributes `latent_dim`, `conditional`, `num_classes`, `image_shape`.
Latent-variable models also have `encode(x, y) -> (mu, logvar)` and `decode(z, y) -> logits`;
VAEs add `log_importance_weights(x, y, k)` for the IWAE bound.
"""

from scratchdl.models.generative import (  # noqa: F401 (registers them)
    autoencoder,
    cvae,
    dcgan,
    ddpm,
    pixelcnn,
    vae,
    vqvae,
)
