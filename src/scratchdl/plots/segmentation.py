"""Segmentation figures: masks as colours, overlaid on images; image | truth | prediction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scratchdl.plots._sheet import STYLE, plt, save

IGNORE = 255


def palette(k: int) -> np.ndarray:
    """uint8 [k, 3]: black for background (0), then well-separated colours (VOC's bit trick:
    the bits of the class index spread over the high bits of R, G and B)."""
    out = np.zeros((k, 3), np.uint8)
    for c in range(k):
        r = g = b = 0
        v = c
        for shift in range(7, -1, -1):
            r |= ((v >> 0) & 1) << shift
            g |= ((v >> 1) & 1) << shift
            b |= ((v >> 2) & 1) << shift
            v >>= 3
            if not v:
                break
        out[c] = (r, g, b)
    return out


def colour_mask(mask: np.ndarray, k: int) -> np.ndarray:
    """[H, W] labels -> uint8 [H, W, 3]; unlabelled (255) pixels white."""
    pal = np.concatenate([palette(k), np.zeros((256 - k, 3), np.uint8)])
    pal[IGNORE] = 255
    return pal[np.asarray(mask, np.int64).clip(0, 255)]


def overlay(image: np.ndarray, mask: np.ndarray, k: int, alpha: float = 0.7) -> np.ndarray:
    """uint8 [3, H, W] image with its mask blended in where the mask is not background."""
    img = np.asarray(image).transpose(1, 2, 0).astype(np.float32)
    colours = colour_mask(mask, k).astype(np.float32)
    fg = (np.asarray(mask) != 0)[..., None]
    return np.where(fg, (1 - alpha) * img + alpha * colours, img).astype(np.uint8)


def _legend(fig: plt.Figure, classes: Sequence[str]) -> None:
    from matplotlib.patches import Patch

    pal = palette(len(classes)) / 255
    handles = [Patch(facecolor=pal[c], edgecolor="grey", label=n) for c, n in enumerate(classes)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(classes), 7), frameon=False)


def mask_grid(images: np.ndarray, masks: np.ndarray, classes: Sequence[str],
              path_stem: Path, title: str | None = None) -> list[Path]:
    """A grid of images (uint8 [N, 3, H, W]) with their class masks overlaid; PNG + PDF."""
    n = len(images)
    cols = min(n, 4)
    rows = max(1, math.ceil(n / cols))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows + 0.4), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(overlay(images[i], masks[i], len(classes)))
        if title:
            fig.suptitle(title)
        _legend(fig, classes)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        return save(fig, path_stem)


def prediction_grid(images: np.ndarray, truth: np.ndarray, pred: np.ndarray,
                    classes: Sequence[str], path_stem: Path) -> list[Path]:
    """One row per image: image | true mask | predicted mask; PNG + PDF."""
    n, k = len(images), len(classes)
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n + 0.4), squeeze=False)
        for i in range(n):
            for ax, img, name in zip(axes[i], (images[i].transpose(1, 2, 0),
                                               colour_mask(truth[i], k),
                                               colour_mask(pred[i], k)),
                                     ("image", "truth", "prediction"), strict=True):
                ax.imshow(img)
                ax.axis("off")
                if i == 0:
                    ax.set_title(name)
        _legend(fig, classes)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
        return save(fig, path_stem)
