"""Detection figures: image grids with boxes (ground truth and predictions), PR curves.

Boxes are pixel corners (xmin, ymin, xmax, ymax). Ground truth is drawn dashed white with its
class name; a prediction solid in its class's colour with `name score`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scratchdl.plots._sheet import STYLE, plt, save


def _colour(c: int) -> str:
    cycle = STYLE["axes.prop_cycle"].by_key()["color"]
    return cycle[int(c) % len(cycle)]


def box_grid(
    images: np.ndarray,
    targets: Sequence[np.ndarray],
    classes: Sequence[str],
    path_stem: Path,
    predictions: Sequence[np.ndarray] | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write a grid of `images` (uint8 [N, 3, H, W]) with boxes as PNG and PDF.

    targets: per image [n, 5] rows class, xmin, ymin, xmax, ymax (may be empty);
    predictions: per image [m, 6] rows class, score, xmin, ymin, xmax, ymax (optional).
    """
    images = np.asarray(images)
    n = len(images)
    cols = min(n, 4)
    rows = max(1, math.ceil(n / cols))
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i >= n:
                continue
            ax.imshow(images[i].transpose(1, 2, 0))
            for cls, x1, y1, x2, y2 in np.asarray(targets[i]).reshape(-1, 5):
                ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                           ec="white", ls="--", lw=0.8))
                if predictions is None:
                    ax.text(x1, y1, classes[int(cls)], fontsize=5, color="black",
                            va="bottom", bbox={"fc": "white", "ec": "none", "pad": 0.5})
            if predictions is not None:
                for cls, score, x1, y1, x2, y2 in np.asarray(predictions[i]).reshape(-1, 6):
                    colour = _colour(cls)
                    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                               ec=colour, lw=1.0))
                    ax.text(x1, y1, f"{classes[int(cls)]} {score:.2f}", fontsize=5,
                            color="white", va="bottom",
                            bbox={"fc": colour, "ec": "none", "pad": 0.5})
        if title:
            fig.suptitle(title)
        return save(fig, Path(path_stem))


def pr_curves(
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path_stem: Path, title: str = ""
) -> list[Path]:
    """One precision-recall curve per class: {name: (recall, precision, ap)} -> PNG and PDF."""
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(4.0, 3.2))
        for name, (recall, precision, ap) in curves.items():
            ax.plot(np.asarray(recall), np.asarray(precision), label=f"{name} (AP {ap:.3f})")
        ax.set_xlim(0, 1.0)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(title or "precision-recall at IoU 0.5")
        if curves:
            ax.legend(loc="lower left")
        return save(fig, Path(path_stem))
