"""DCGAN (Radford et al. 2016) for 28x28 grey images, and the two generator losses of
Goodfellow et al. 2014.

The discriminator D outputs a logit l, D(x) = sigmoid(l). It minimizes
  -log D(x) - log(1 - D(G(z))) = softplus(-l_real) + softplus(l_fake).
The generator either plays the minimax game, minimizing log(1 - D(G(z))) = -softplus(l_fake),
whose gradient d/dl = -D(G(z)) vanishes exactly when D confidently rejects the fakes (early
training), or the non-saturating game, minimizing -log D(G(z)) = softplus(-l_fake), whose
gradient -(1 - D(G(z))) is largest there. Images in [0, 1] are seen by D as 2x - 1; G ends in
tanh. The alternating updates live in the "gan" task (tasks/gan.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model

GEN_LOSSES = ("non-saturating", "minimax")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), averaged over the batch (nats)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str = "non-saturating") -> torch.Tensor:
    """Minimax: mean log(1 - D(G(z))); non-saturating: mean -log D(G(z))."""
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "non-saturating":
        return F.softplus(-fake_logits).mean()
    raise ValueError(f"generator loss must be one of {GEN_LOSSES}, got {kind!r}")


class DCGAN(nn.Module):
    """Generator z -> 128x7x7 -> 64x14x14 -> 1x28x28 (transposed convs, batch norm, ReLU,
    tanh); discriminator the mirror image (strided convs, leaky ReLU, no pooling)."""

    conditional = False

    def __init__(
        self,
        latent_dim: int = 64,
        width: int = 64,
        gen_loss: str = "non-saturating",
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if gen_loss not in GEN_LOSSES:
            raise UserError(
                f"model.gen_loss must be one of {', '.join(GEN_LOSSES)}, got {gen_loss!r}"
            )
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, (1, 28, 28)
        self.gen_loss, w = gen_loss, width
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, 2 * w * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * w, 7, 7)),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, 2, 1),
            nn.Tanh(),
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * w * 7 * 7, 1),
        )
        for m in self.modules():  # the paper's N(0, 0.02) initialization
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        dev = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=dev)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) in [-1, 1] (D's scale)."""
        return self.generator(z)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logit [N] for images on D's scale [-1, 1]."""
        return self.discriminator(x).squeeze(1)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Both players' losses on a batch (evaluation; training alternates, see tasks/gan.py)."""
        fake = self.discriminate(self.generate(self.noise(len(x))))
        real = self.discriminate(2 * x - 1)
        d, g = discriminator_loss(real, fake), generator_loss(fake, self.gen_loss)
        return {
            "loss": d + g,
            "d_loss": d,
            "g_loss": g,
            "d_real": torch.sigmoid(real).mean(),
            "d_fake": torch.sigmoid(fake).mean(),
        }

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return (self.generate(self.noise(n, generator)) + 1) / 2


@register_model(
    "dcgan",
    "generative",
    options={"latent_dim": 64, "width": 64, "gen_loss": "non-saturating"},
)
def dcgan(*, num_classes: int = 10, **options: Any) -> DCGAN:
    """DCGAN, 28x28: transposed-conv generator, strided-conv discriminator (Radford et al.)."""
    return DCGAN(num_classes=num_classes, **options)
