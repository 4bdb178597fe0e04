"""Figures of generative runs beyond image grids: the latent plane and the loss curves."""

from __future__ import annotations

from pathlib import Path

import torch

from scratchdl.plots._sheet import STYLE, epoch_axis, plt, save


def latent_map(z: torch.Tensor, labels: torch.Tensor, plane: torch.Tensor, stem: Path) -> None:
    """Left: 2-D codes z [N, 2] coloured by label. Right: `plane`, the decoded grid as one
    grey image [H, W] (scratchdl.plots.grids.tile)."""
    with plt.rc_context(STYLE):
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4.2))
        sc = a.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=2, rasterized=True)
        a.legend(*sc.legend_elements(), fontsize=6, markerscale=0.6, loc="upper right")
        a.set(xlabel="$z_1$", ylabel="$z_2$", title="test codes (posterior means) by digit")
        b.imshow(plane.numpy(), cmap="gray", vmin=0, vmax=1)
        b.set(xticks=[], yticks=[], title="decoded latent plane (normal quantiles 3%-97%)")
        save(fig, stem)


def loss_curves(
    history: list[dict[str, float]], keys: list[str], ylabel: str, title: str, stem: Path
) -> None:
    """The per-epoch values of `keys`, one line each."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.5, 3))
        for k in keys:
            ax.plot([r["epoch"] for r in history], [r[k] for r in history], marker=".", label=k)
        ax.set(xlabel="epoch", ylabel=ylabel, title=title)
        epoch_axis(ax)
        ax.legend()
        save(fig, stem)
