"""The figures every generative run writes into its run directory (PNG and PDF each):
samples (8x8), reconstructions (rows of test images, each followed by its reconstruction),
interpolations (8 pairs of test images, 8 steps between their codes), class_samples
(conditional models: one row per class), latent_map (2-D codes: test codes by class, and the
decoded grid of the latent plane) and loss_curves."""

from __future__ import annotations

from typing import Any

import torch

from scratchdl.plots.generative import latent_map, loss_curves
from scratchdl.plots.grids import save_grid, tile


@torch.no_grad()
def write_figures(task: Any, history: list[dict[str, float]], gen: torch.Generator) -> None:
    model, out, dev = task.module("model"), task.run.run_dir, task.device
    x, y = task.eval_x["test"][:64].to(dev), task.splits.test.y[:64].to(dev)
    labels = torch.arange(64, device=dev) % model.num_classes if model.conditional else None
    name = task.cfg["model"]["name"]
    if getattr(model, "has_prior", True):  # a VQ-VAE without a learned prior draws texture
        save_grid(model.sample(64, labels, gen), out / "samples", title=f"{name}: samples")
    if hasattr(model, "reconstruct"):  # GANs and diffusion models have no encoder
        rec = model.reconstruct(x[:32], y[:32])
        pairs = torch.stack([x[:32].view(4, 8, *x.shape[1:]), rec.view(4, 8, *x.shape[1:])], 1)
        save_grid(
            pairs.flatten(0, 2),
            out / "reconstructions",
            title=f"{name}: test images (odd rows), reconstructions (even rows)",
        )
    if hasattr(model, "embed"):
        _interpolations(model, x, y, out / "interpolations", name)
        if model.latent_dim == 2:
            _latent_map(model, task, out / "latent_map")
    if model.conditional:
        c = model.num_classes
        lab = torch.arange(c, device=dev).repeat_interleave(8)
        save_grid(
            model.sample(len(lab), lab, gen),
            out / "class_samples",
            title=f"{name}: 8 samples of each class",
            row_labels=[str(i) for i in range(c)],
        )
    _loss_curves(history, out / "loss_curves", name)


def _interpolations(model: Any, x: torch.Tensor, y: torch.Tensor, stem, name: str) -> None:
    """Row i: decode (1 - t) z_a + t z_b for 8 values of t, a and b two test images."""
    za, zb = model.embed(x[:8], y[:8]), model.embed(x[8:16], y[8:16])
    t = torch.linspace(0, 1, 8, device=x.device).view(1, 8, 1)
    z = ((1 - t) * za[:, None] + t * zb[:, None]).flatten(0, 1)
    lab = y[:8].repeat_interleave(8) if model.conditional else None
    save_grid(
        torch.sigmoid(model.decode(z, lab)),
        stem,
        title=f"{name}: latent interpolations (label of the left image)"
        if model.conditional
        else f"{name}: latent interpolations",
    )


def _latent_map(model: Any, task: Any, stem) -> None:
    """Left: the codes of 5000 test images by class. Right: decoded 15x15 grid of the plane."""
    x, y = task.eval_x["test"][:5000].to(task.device), task.splits.test.y[:5000].to(task.device)
    z = torch.cat(
        [model.embed(xb, yb) for xb, yb in zip(x.split(1000), y.split(1000), strict=True)]
    ).cpu()
    q = torch.distributions.Normal(0, 1).icdf(torch.linspace(0.03, 0.97, 15))
    grid = torch.stack(torch.meshgrid(q, -q, indexing="xy"), -1).view(-1, 2).to(task.device)
    lab = torch.zeros(len(grid), dtype=torch.long, device=task.device)
    imgs = torch.sigmoid(model.decode(grid, lab if model.conditional else None))
    latent_map(z, y.cpu(), tile(imgs, 15, pad=0).squeeze(0), stem)


def task_unit(history: list[dict[str, float]]) -> str:
    """The y label of the loss curves: nats per image unless the loss is a mean square."""
    if "train_recon_mse" in history[0]:
        return "pixel mean square + codebook terms"
    if "train_eps_mse" in history[0]:
        return "noise mean square"
    return "nats per image" if "train_d_loss" not in history[0] else "nats per example"


def _loss_curves(history: list[dict[str, float]], stem, name: str) -> None:
    if not history:
        return
    keys = [k for k in ("train_loss", "val_loss", "train_kl", "val_kl") if k in history[0]]
    keys += [k for k in history[0] if k.endswith(("_d_loss", "_g_loss"))]  # a GAN's players
    loss_curves(history, keys, task_unit(history), f"{name}: loss", stem)
