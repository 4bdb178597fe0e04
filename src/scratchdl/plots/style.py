"""Style-transfer figures: the three loss curves, and content | style | result per weight."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from scratchdl.plots._sheet import STYLE, plt, save


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()


def loss_curves(rows: Sequence[Sequence[float]], path_stem: Path) -> list[Path]:
    """rows: per step [content, style, tv] (weighted) -> one log-scale panel per loss."""
    arr = np.asarray(rows, dtype=float).reshape(-1, 3)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.4))
        for ax, col, name in zip(axes, arr.T, ("content", "style", "total variation"),
                                 strict=True):
            ax.plot(np.arange(1, len(col) + 1), col)
            ax.set_title(f"{name} loss")
            ax.set_xlabel("step")
            if len(col) and (col > 0).all():
                ax.set_yscale("log")
        fig.tight_layout()
        return save(fig, path_stem)


def weight_grid(content: torch.Tensor, style: torch.Tensor,
                results: Sequence[tuple[float, Path]], path_stem: Path) -> list[Path]:
    """One row per style weight: content | style | the image synthesized at that weight."""
    from PIL import Image

    with plt.style.context(STYLE):
        fig, axes = plt.subplots(len(results), 3, figsize=(7, 2.4 * len(results)), squeeze=False)
        for row, (weight, path) in zip(axes, results, strict=True):
            with Image.open(path) as im:
                result = np.asarray(im.convert("RGB"))
            for ax, img, title in zip(row, (_hwc(content), _hwc(style), result),
                                      ("content", "style", f"style weight {weight:g}"),
                                      strict=True):
                ax.imshow(img)
                ax.set_title(title)
                ax.axis("off")
        fig.tight_layout()
        return save(fig, path_stem)
