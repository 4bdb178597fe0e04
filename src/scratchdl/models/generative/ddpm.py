"""Denoising diffusion (Ho et al. 2020) with DDIM sampling (Song et al. 2021) and optional
classifier-free guidance (Ho & Salimans 2022), on 28x28 grey images scaled to [-1, 1].

Forward process: q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), abar_t = prod_{s<=t}
(1 - beta_s), betas linear (1e-4 .. 0.02) or cosine (Nichol & Dhariwal 2021). A small U-Net
predicts the noise eps from (x_t, t[, y]); the loss is ||eps - eps_theta||^2.
Ancestral (DDPM) step: x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)
  + sigma_t z, sigma_t^2 = beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t.
DDIM step from t to an earlier s (any subsequence of steps):
  x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps + sigma z,
  sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s);
eta = 1 over every step is the DDPM step (tests/models/test_pixelcnn_diffusion.py), eta = 0
is deterministic. The K steps are spaced evenly over 0..T-1 ("uniform") or as squares
("quadratic", the DDIM paper's choice for CIFAR-10: more steps near the data, where the
linear schedule's noise is small and detail is decided). With `clip` (default, as Ho et al.
sample) each step first clips the implied x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
to [-1, 1] and uses the eps consistent with it: near t = T, 1 / sqrt(abar_t) ~ 150 would
otherwise blow small eps errors up.
Conditional: the label embedding is replaced by a learned "no label" one with probability
p_uncond in training; sampling mixes eps = eps_u + w (eps_c - eps_u) (w = guidance).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model

SCHEDULES = ("linear", "cosine")
SAMPLERS = ("ddpm", "ddim")
SPACINGS = ("uniform", "quadratic")


def beta_schedule(kind: str, steps: int) -> torch.Tensor:
    """betas [steps] in float64: linear 1e-4..0.02 (scaled to `steps`), or cosine abar."""
    if kind == "linear":
        scale = 1000 / steps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
        return betas.clamp(max=0.999)
    if kind == "cosine":
        s = 0.008
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        abar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    raise UserError(f"model.schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")


def ddim_times(steps: int, k: int, spacing: str = "uniform") -> list[int]:
    """The k steps DDIM visits, from steps - 1 down to 0, strictly decreasing."""
    if spacing not in SPACINGS:
        raise UserError(f"model.spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
    if not 1 <= k <= steps:
        raise ValueError(f"sample_steps must be in 1..{steps}, got {k}")
    if k == 1:
        return [steps - 1]
    u = torch.linspace(0, 1, k, dtype=torch.float64)
    grid = (u if spacing == "uniform" else u**2) * (steps - 1)
    times = grid.round().long().tolist()
    for i in range(1, k):  # squares crowd near 0: keep every step distinct
        times[i] = max(times[i], times[i - 1] + 1)
    return times[::-1]


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of integer steps t [N] -> [N, dim] (Transformer positions)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class DiffusionUNet(nn.Module):
    """28 -> 14 -> 7 and back, one residual block per level each way, skip connections."""

    def __init__(self, ch: int = 32, num_labels: int = 0) -> None:
        super().__init__()
        emb = 4 * ch
        self.ch = ch
        self.t_mlp = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.label = nn.Embedding(num_labels, emb) if num_labels else None
        self.inp = nn.Conv2d(1, ch, 3, padding=1)
        self.d1, self.d2 = ResBlock(ch, ch, emb), ResBlock(ch, 2 * ch, emb)
        self.mid = ResBlock(2 * ch, 2 * ch, emb)
        self.u2, self.u1 = ResBlock(4 * ch, ch, emb), ResBlock(2 * ch, ch, emb)
        self.out = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, 1, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        e = self.t_mlp(timestep_embedding(t, self.ch))
        if self.label is not None:
            e = e + self.label(y)
        h1 = self.d1(self.inp(x), e)  # 28x28
        h2 = self.d2(F.avg_pool2d(h1, 2), e)  # 14x14
        m = self.mid(F.avg_pool2d(h2, 2), e)  # 7x7
        u = self.u2(torch.cat([F.interpolate(m, scale_factor=2.0), h2], 1), e)
        u = self.u1(torch.cat([F.interpolate(u, scale_factor=2.0), h1], 1), e)
        return self.out(u)


class DDPM(nn.Module):
    """Noise-predicting diffusion model; `sample` uses `sampler` with `sample_steps` steps."""

    def __init__(
        self,
        steps: int = 1000,
        schedule: str = "linear",
        channels: int = 32,
        conditional: bool = False,
        p_uncond: float = 0.1,
        guidance: float = 1.0,
        sampler: str = "ddpm",
        sample_steps: int = 0,
        eta: float = 0.0,
        clip: bool = True,
        spacing: str = "uniform",
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if sampler not in SAMPLERS:
            raise UserError(f"model.sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if spacing not in SPACINGS:
            raise UserError(f"model.spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
        self.spacing = spacing
        self.latent_dim, self.num_classes, self.image_shape = 0, num_classes, (1, 28, 28)
        self.conditional, self.p_uncond, self.guidance = conditional, p_uncond, guidance
        self.steps, self.sampler, self.eta, self.clip = steps, sampler, eta, clip
        self.sample_steps = sample_steps or steps
        # the last label means "no label" (classifier-free guidance)
        self.unet = DiffusionUNet(channels, num_classes + 1 if conditional else 0)
        betas = beta_schedule(schedule, steps)
        abar = torch.cumprod(1 - betas, 0)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("abar", abar, persistent=False)

    def eps(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The guided noise prediction (one U-Net pass, two when guidance != 1)."""
        if not self.conditional:
            return self.unet(x, t, None)
        if self.guidance == 1.0:
            return self.unet(x, t, y)
        none = torch.full_like(y, self.num_classes)
        e = self.unet(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, none]))
        ec, eu = e.chunk(2)
        return eu + self.guidance * (ec - eu)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x0 = 2 * x - 1
        t = torch.randint(0, self.steps, (len(x),), device=x.device)
        noise = torch.randn_like(x0)
        a = self.abar[t].float().view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        if self.conditional:
            drop = torch.rand(len(x), device=x.device) < self.p_uncond
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        mse = F.mse_loss(self.unet(xt, t, y if self.conditional else None), noise)
        return {"loss": mse, "eps_mse": mse}

    def clipped_eps(self, xt: torch.Tensor, t: int, eps: torch.Tensor) -> torch.Tensor:
        """The eps whose x0_hat is the given eps's x0_hat clipped to the data range [-1, 1]."""
        at = self.abar[t]
        x0 = ((xt - (1 - at).sqrt() * eps) / at.sqrt()).clamp(-1, 1)
        return ((xt - at.sqrt() * x0) / (1 - at).sqrt()).to(xt.dtype)

    def ddpm_step(self, xt, t: int, eps, z) -> torch.Tensor:
        """One ancestral step t -> t-1 given the noise prediction eps and fresh noise z."""
        beta, abar = self.betas[t], self.abar[t]
        abar_prev = self.abar[t - 1] if t > 0 else torch.ones((), dtype=abar.dtype)
        mean = (xt - beta / (1 - abar).sqrt() * eps) / (1 - beta).sqrt()
        var = (1 - abar_prev) / (1 - abar) * beta
        return (mean + var.sqrt() * z).to(xt.dtype)

    def ddim_step(self, xt, t: int, s: int, eps, z, eta: float) -> torch.Tensor:
        """One DDIM step t -> s < t (s = -1: to the data, abar = 1)."""
        at = self.abar[t]
        as_ = self.abar[s] if s >= 0 else torch.ones((), dtype=at.dtype)
        x0 = (xt - (1 - at).sqrt() * eps) / at.sqrt()
        sigma = eta * ((1 - as_) / (1 - at)).sqrt() * (1 - at / as_).sqrt()
        return (as_.sqrt() * x0 + (1 - as_ - sigma**2).sqrt() * eps + sigma * z).to(xt.dtype)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        sample_steps: int | None = None,
    ) -> torch.Tensor:
        """n images in [0, 1]; the model's sampler unless `sampler`/`sample_steps` are given."""
        sampler, k = sampler or self.sampler, sample_steps or self.sample_steps
        dev = self.abar.device
        if self.conditional and labels is None:
            labels = torch.arange(n, device=dev) % self.num_classes
        x = torch.randn(n, *self.image_shape, generator=generator, device=dev)
        if sampler == "ddpm":
            times = list(range(self.steps - 1, -1, -1))
        else:
            times = ddim_times(self.steps, k, self.spacing)
        for i, t in enumerate(times):
            tt = torch.full((n,), t, device=dev, dtype=torch.long)
            eps = self.eps(x, tt, labels)
            if self.clip:
                eps = self.clipped_eps(x, t, eps)
            z = torch.randn(x.shape, generator=generator, device=dev)
            if sampler == "ddpm":
                x = self.ddpm_step(x, t, eps, z if t > 0 else torch.zeros_like(z))
            else:
                s = times[i + 1] if i + 1 < len(times) else -1
                x = self.ddim_step(x, t, s, eps, z, self.eta if s >= 0 else 0.0)
        return ((x + 1) / 2).clamp(0, 1)


DDPM_OPTIONS: dict[str, Any] = {
    "steps": 1000,
    "schedule": "linear",
    "channels": 32,
    "conditional": False,
    "p_uncond": 0.1,
    "guidance": 1.0,
    "sampler": "ddpm",
    "sample_steps": 0,
    "eta": 0.0,
    "clip": True,
    "spacing": "uniform",
}


@register_model("ddpm", "generative", options=DDPM_OPTIONS)
def ddpm(*, num_classes: int = 10, **options: Any) -> DDPM:
    """DDPM, small U-Net, eps prediction; DDIM sampling; classifier-free guidance option."""
    return DDPM(num_classes=num_classes, **options)
