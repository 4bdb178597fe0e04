"""Figures of `scratchdl explain`: image grids (saliency, Grad-CAM, adversarial triples, class
visualizations, filters, feature maps) and the 2-D map of penultimate features. PNG and PDF
through plotstyle, as every workbench figure."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from scratchdl.plots.charts import STYLE, plt, save


def _show(ax: plt.Axes, img: torch.Tensor, cmap: str = "gray", **kw) -> None:
    """An image [C, H, W] (1 or 3 channels) on an axis without ticks."""
    img = img.detach().float().cpu()
    if img.shape[0] == 1:
        kw = {"vmin": 0.0, "vmax": 1.0, **kw}  # pixels: black is 0, white is 1, no autoscale
        ax.imshow(img[0], cmap=cmap, **kw)
    else:
        ax.imshow(img[:3].permute(1, 2, 0).clamp(0, 1), **kw)
    ax.set_xticks([])
    ax.set_yticks([])


def _normalize_map(m: torch.Tensor) -> torch.Tensor:
    """A map [C, H, W] -> [1, H, W] in [0, 1] (channel max, then scaled by its own max)."""
    m = m.detach().float().abs().amax(dim=0, keepdim=True)
    return m / m.max().clamp_min(1e-12)


def attribution_grid(
    pixels: torch.Tensor,
    maps: torch.Tensor,
    captions: list[str],
    *,
    title: str,
    overlay: bool,
    path_stem: Path,
) -> list[Path]:
    """Row 1 the images, row 2 their maps (overlaid in colour on the image for Grad-CAM)."""
    n = len(pixels)
    with plt.rc_context(STYLE):
        fig, axs = plt.subplots(2, n, figsize=(1.3 * n + 0.3, 3.0), squeeze=False)
        for i in range(n):
            _show(axs[0][i], pixels[i])
            axs[0][i].set_title(captions[i], fontsize=6.5)
            if overlay:
                _show(axs[1][i], pixels[i])
                axs[1][i].imshow(_normalize_map(maps[i])[0], cmap="jet", alpha=0.5)
            else:
                _show(axs[1][i], _normalize_map(maps[i]), cmap="hot")
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, path_stem)


def image_grid(
    images: torch.Tensor | list[torch.Tensor],
    captions: list[str],
    *,
    title: str,
    path_stem: Path,
    cols: int = 5,
    cmap: str | list[str] = "gray",
    rescale: bool = False,
) -> list[Path]:
    """Images [K, C, H, W] (or a list of [C, H, W], any sizes) in a grid, a caption each
    (rescale: each image to its own min-max)."""
    k = len(images)
    cols = min(cols, k)
    rows = math.ceil(k / cols)
    with plt.rc_context(STYLE):
        fig, axs = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.5 * rows + 0.4), squeeze=False)
        for i in range(rows * cols):
            ax = axs[i // cols][i % cols]
            if i >= k:
                ax.set_visible(False)
                continue
            img = images[i].detach().float()
            if rescale:
                img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-12)
            _show(ax, img, cmap=cmap if isinstance(cmap, str) else cmap[i])
            ax.set_title(captions[i], fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, path_stem)


def adversarial_grid(
    clean: torch.Tensor,
    adv: torch.Tensor,
    captions: list[tuple[str, str]],
    *,
    title: str,
    path_stem: Path,
) -> list[Path]:
    """One row per image: clean | perturbation (adv - clean, grey = 0) | adversarial."""
    n = len(clean)
    delta = (adv - clean).detach().float()
    scale = delta.abs().max().clamp_min(1e-12).item()
    with plt.rc_context(STYLE):
        fig, axs = plt.subplots(n, 3, figsize=(4.2, 1.45 * n + 0.5), squeeze=False)
        for i in range(n):
            _show(axs[i][0], clean[i])
            axs[i][0].set_title(captions[i][0], fontsize=7)
            _show(axs[i][1], delta[i], cmap="seismic", vmin=-scale, vmax=scale)
            axs[i][1].set_title(f"perturbation (±{scale:.3g})", fontsize=7)
            _show(axs[i][2], adv[i])
            axs[i][2].set_title(captions[i][1], fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, path_stem)


def embedding_figure(
    points: torch.Tensor, labels: torch.Tensor, classes: list[str], *, title: str, path_stem: Path
) -> list[Path]:
    """A 2-D scatter of points [N, 2], one colour per class, with a legend of class names."""
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        for c, name in enumerate(classes):
            sel = labels == c
            if sel.any():
                ax.scatter(points[sel, 0], points[sel, 1], s=4, color=cmap(c % cmap.N), label=name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, frameon=False)
        ax.set_title(title)
        return save(fig, path_stem)
