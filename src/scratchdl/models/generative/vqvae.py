"""VQ-VAE (van den Oord et al. 2017): a conv encoder's 7x7 grid of vectors, each replaced by
its nearest codebook entry, decoded back to the image.

The nearest-neighbour lookup has no gradient; the straight-through estimator copies the
decoder's gradient at the quantized vector onto the encoder's output (z + (q - z).detach()).
The codebook learns by ||sg[z] - e||^2 (or, with `ema`, by exponential moving averages of the
vectors assigned to each code, the paper's appendix A.1); the commitment loss beta ||z - sg[e]||^2
keeps the encoder near its codes. Codes that no vector has chosen for a while (their running
usage falls below `restart_below` uses per batch, and every code the first batch leaves
unused) are restarted on random encoder outputs, then given ~70 batches (decay 0.99) to be
chosen.
Grey images in [0, 1], decoder through a sigmoid, reconstruction by mean squared error.

A VQ-VAE has no prior of its own: drawing each of the 49 codes independently gives texture,
not garments. The paper fits a PixelCNN to the codes afterwards. `prior = "pixelcnn"` fits
one (CodePrior: masked convolutions over the 7x7 grid, a softmax over the codes at each
position) alongside, on the detached codes of every training batch: its loss never reaches
the encoder, decoder or codebook, so they train exactly as without it, and by the last
epochs the prior models the codes they settled on. Its test NLL is `prior_nll`, nats per
image (the 49 codes' log-likelihood, not the image's). Without a prior `has_prior` is False:
runs write no sample grid and `scratchdl sample` refuses the run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.models.generative.pixelcnn import MaskedConv2d, ResidualBlock

PRIORS = ("none", "pixelcnn")


def nearest_codes(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row (squared L2) for each row of z [M, D]."""
    d = z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.T + codebook.pow(2).sum(1)
    return d.argmin(1)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code histogram: K when all K codes are used equally, 1 for one."""
    p = counts.float() / counts.sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    """z [N, D, H, W] -> (straight-through quantized z, losses and usage statistics)."""

    def __init__(
        self,
        num_codes: int = 128,
        dim: int = 16,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        restart_below: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_codes, self.dim, self.beta, self.ema, self.decay = num_codes, dim, beta, ema, decay
        self.restart_below = restart_below
        init = torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
        if ema:  # learned by moving averages, not by gradients
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.zeros(num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        # running uses per batch; starting at 0, the first training batch restarts every code
        # it did not choose on its encoder outputs (a data-dependent initialization)
        self.register_buffer("usage", torch.zeros(num_codes))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_codes(flat.detach(), self.codebook.detach())
        q = self.codebook[idx]
        counts = torch.bincount(idx, minlength=self.num_codes).to(flat.dtype)
        commit = F.mse_loss(flat, q.detach())
        if self.ema:
            codebook_loss = torch.zeros((), device=z.device)
            if self.training:
                self._ema_update(flat.detach(), idx, counts)
        else:
            codebook_loss = F.mse_loss(q, flat.detach())
        if self.training:
            with torch.no_grad():
                self.usage.mul_(self.decay).add_(counts, alpha=1 - self.decay)
                self._restart_dead(flat.detach())
        q = flat + (q - flat).detach()  # straight-through: d q / d z = identity
        stats = {
            "vq": codebook_loss + self.beta * commit,
            "commit": commit,
            "perplexity": perplexity(counts),
            "usage": (counts > 0).float().mean(),
        }
        return q.view(n, h, w, d).permute(0, 3, 1, 2), stats

    @torch.no_grad()
    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """The code index [N, H, W] of each of z's [N, D, H, W] vectors."""
        n, d, h, w = z.shape
        return nearest_codes(z.permute(0, 2, 3, 1).reshape(-1, d), self.codebook).view(n, h, w)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        """N_k <- g N_k + (1-g) n_k; m_k <- g m_k + (1-g) sum of its vectors; e_k = m_k / N_k
        (N_k Laplace-smoothed so that an unused code never divides by zero)."""
        g, k = self.decay, self.num_codes
        self.ema_count.mul_(g).add_(counts, alpha=1 - g)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.ema_sum.mul_(g).add_(sums, alpha=1 - g)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (total + k * 1e-5) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor) -> None:
        """Codes whose running usage fell below restart_below move onto random encoder outputs."""
        dead = (self.usage < self.restart_below).nonzero().flatten()
        if len(dead) == 0:
            return
        pick = torch.randint(len(flat), (len(dead),), device=flat.device)
        self.codebook[dead] = flat[pick]
        if self.ema:
            self.ema_sum[dead] = flat[pick]
            self.ema_count[dead] = 1.0
        self.usage[dead] = 2 * self.restart_below  # a grace period before the next check


class CodePrior(nn.Module):
    """PixelCNN over a grid of code indices: p(c) = prod_i p(c_i | c_<i) in raster order, a
    softmax over the K codes at each position (embedding, 5x5 mask A, mask-B residual blocks)."""

    def __init__(self, num_codes: int, channels: int = 64, layers: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_codes, channels)
        self.net = nn.Sequential(
            MaskedConv2d(channels, channels, 5, "A"),
            *[ResidualBlock(channels) for _ in range(layers)],
            nn.ReLU(),
            MaskedConv2d(channels, channels, 1, "B"),
            nn.ReLU(),
            MaskedConv2d(channels, num_codes, 1, "B"),
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits [N, K, H, W] for codes [N, H, W]; position i sees codes before i only."""
        return self.net(self.embed(codes).permute(0, 3, 1, 2))

    def nll(self, codes: torch.Tensor) -> torch.Tensor:
        """-log p(codes) per grid in nats (exact: the sum of per-position cross-entropies)."""
        return F.cross_entropy(self(codes), codes, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self, n: int, shape: tuple[int, int], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n grids of codes drawn position by position (each pass on the rows it needs)."""
        h, w = shape
        dev = self.embed.weight.device
        codes = torch.zeros(n, h, w, dtype=torch.long, device=dev)
        for r in range(h):
            for c in range(w):
                p = F.softmax(self(codes[:, : r + 1])[:, :, r, c].double(), dim=1)
                codes[:, r, c] = torch.multinomial(p, 1, generator=generator).squeeze(1)
        return codes


class VQVAE(nn.Module):
    """Conv encoder to a 7x7 grid of `dim`-vectors, vector quantizer, transposed-conv decoder."""

    conditional = False

    def __init__(
        self,
        num_codes: int = 128,
        dim: int = 16,
        hidden: int = 64,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        restart_below: float = 1.0,
        prior: str = "none",
        prior_channels: int = 64,
        prior_layers: int = 4,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if prior not in PRIORS:
            raise UserError(f"model.prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        self.latent_dim, self.num_classes, self.image_shape = dim, num_classes, (1, 28, 28)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, hidden, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * hidden, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(2 * hidden, dim, 1),
        )
        self.quantizer = VectorQuantizer(num_codes, dim, beta, ema, decay, restart_below)
        self.decoder = nn.Sequential(
            nn.Conv2d(dim, 2 * hidden, 3, 1, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * hidden, hidden, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, 1, 4, 2, 1),
            nn.Sigmoid(),
        )
        self.prior = None
        if prior != "none":  # its initialization leaves the global RNG as it found it, so the
            with torch.random.fork_rng(devices=[]):  # rest of the run draws as without a prior
                self.prior = CodePrior(num_codes, prior_channels, prior_layers)

    @property
    def has_prior(self) -> bool:
        """Whether samples come from a learned prior (else they would be texture: refused)."""
        return self.prior is not None

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.encoder(x)
        q, stats = self.quantizer(z)
        mse = F.mse_loss(self.decoder(q), x)
        out = {"loss": mse + stats["vq"], "recon_mse": mse, **stats}
        if self.prior is not None:  # on detached codes: nothing flows back into the VQ-VAE
            prior_nll = self.prior.nll(self.quantizer.codes(z.detach())).mean()
            out["loss"] = out["loss"] + prior_nll
            out["prior_nll"] = prior_nll
        return out

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.quantizer(self.encoder(x))[0])

    def sample(
        self, n: int, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode 7x7 codes drawn from the learned prior or, without one, independently from
        the codes' running usage (texture: the task and `scratchdl sample` do not ask for it)."""
        cb = self.quantizer.codebook
        if self.prior is not None:
            idx = self.prior.sample(n, (7, 7), generator)
        else:
            p = self.quantizer.usage / self.quantizer.usage.sum()
            idx = torch.multinomial(p, n * 49, replacement=True, generator=generator)
        return self.decoder(cb[idx].view(n, 7, 7, -1).permute(0, 3, 1, 2))


VQVAE_OPTIONS: dict[str, Any] = {
    "num_codes": 128,
    "dim": 16,
    "hidden": 64,
    "beta": 0.25,
    "ema": False,
    "decay": 0.99,
    "restart_below": 1.0,
    "prior": "none",
    "prior_channels": 64,
    "prior_layers": 4,
}


@register_model("vqvae", "generative", options=VQVAE_OPTIONS)
def vqvae(*, num_classes: int = 10, **options: Any) -> VQVAE:
    """VQ-VAE: 7x7 grid of codebook vectors, straight-through, commitment, optional EMA."""
    return VQVAE(num_classes=num_classes, **options)
