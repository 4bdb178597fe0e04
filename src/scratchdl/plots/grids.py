"""Image grids as figures (PNG and PDF in the workbench's style): samples, reconstructions,
interpolations. Images are [N, C, H, W] in [0, 1]; grey images are drawn
as they are (white strokes on black, as MNIST stores them), with white lines between."""

from __future__ import annotations

from pathlib import Path

import torch

from scratchdl.plots._sheet import STYLE, save


def tile(images: torch.Tensor, nrow: int, pad: int = 2) -> torch.Tensor:
    """[N, C, H, W] -> one [C, rows*(H+pad)+pad, nrow*(W+pad)+pad] image, row by row
    (torchvision.utils.make_grid's layout, padding 1.0 = white lines between images)."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    out = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        out[:, y0 : y0 + h, x0 : x0 + w] = images[i].detach().float().cpu().clamp(0, 1)
    return out


def save_grid(
    images: torch.Tensor,
    path_stem: Path,
    nrow: int = 8,
    title: str = "",
    row_labels: list[str] | None = None,
) -> list[Path]:
    """Write `images` as a grid with `nrow` per row to <stem>.png and <stem>.pdf."""
    import matplotlib.pyplot as plt

    grid = tile(images, nrow)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(
            figsize=(0.45 * nrow + 0.6, 0.45 * (grid.shape[1] / grid.shape[2]) * nrow + 0.5)
        )
        ax.imshow(
            grid.permute(1, 2, 0).squeeze(-1).numpy(),
            cmap="gray",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_xticks([])
        if row_labels:
            h = images.shape[2] + 2
            ax.set_yticks([2 + h * i + h / 2 - 1 for i in range(len(row_labels))], row_labels)
        else:
            ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        if title:
            ax.set_title(title)
        return save(fig, path_stem)
