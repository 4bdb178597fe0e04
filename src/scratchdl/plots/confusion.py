"""A confusion matrix as a heat map, each number in the colour that reads best on its cell."""

from __future__ import annotations

from pathlib import Path

import torch

from scratchdl.plots._sheet import STYLE, plt, save


def _luminance(rgba) -> float:
    """WCAG relative luminance of an RGB(A) colour in [0, 1]."""
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_colour(background) -> str:
    """White or black, whichever contrasts more with `background` (>= 4.5:1 on any colour)."""
    lum = _luminance(background)
    return "white" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.05) else "black"


def confusion_plot(
    counts: torch.Tensor, classes: list[str], title: str, path_stem: Path
) -> list[Path]:
    """Heat map of counts [true, predicted] normalised per row, a number in every cell >= 0.01.

    Cells keep a readable size: the figure grows with the number of classes (0.42 in per cell
    up to 16 classes, at least 0.3 in beyond), the numbers' font follows the cell (6-9 pt) and
    each number is white or black, whichever contrasts more with its cell's colour.
    """
    k = len(classes)
    rates = counts.double() / counts.sum(1, keepdim=True).clamp(min=1)
    side = max(2.4, (0.42 if k <= 16 else max(0.3, 6.7 / k)) * k)  # inches
    font = min(9.0, max(6.0, side / k * 72 * 0.26))  # "0.95" is ~2.2 x font wide: fits the cell
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(side + 2.4, side + 1.6))
        im = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
        label_font = min(8.0, font)
        ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=label_font)
        ax.set_yticks(range(k), classes, fontsize=label_font)
        for i in range(k):
            for j in range(k):
                if rates[i, j] >= 0.01:
                    ax.text(
                        j,
                        i,
                        f"{rates[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=font,
                        color=text_colour(im.cmap(im.norm(float(rates[i, j])))),
                    )
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.spines[:].set_visible(False)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
        return save(fig, path_stem)
