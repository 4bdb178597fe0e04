"""Draw boxes on an image (anchors, ground truth, predictions) as PNG + PDF.

draw_boxes(image, boxes, labels, path_stem) writes <stem>.png and <stem>.pdf in the shared
scratchdl.plots._sheet look. Boxes are corner form in pixels, or in [0, 1] with normalized=True
(as multibox_prior returns them without image_hw), scaled by the image's width and height.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.ops.boxes import check_boxes
from scratchdl.plots._sheet import STYLE, plt, save


def _as_hwc(image: torch.Tensor) -> torch.Tensor:
    """[H, W], [1|3, H, W] or [H, W, 3] in [0, 1] (or 0..255 integers) -> [H, W(, 3)] float."""
    img = image.detach().cpu()
    img = img.float() / 255 if not img.is_floating_point() else img.float()
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.permute(1, 2, 0)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise UserError(f"draw_boxes: image must be [H, W], [C, H, W] or [H, W, C], got "
                        f"{tuple(image.shape)}")  # fmt: skip
    return img.clamp(0, 1)


def draw_boxes(
    image: torch.Tensor,
    boxes: torch.Tensor,
    path_stem: Path | str,
    labels: Sequence[str] | None = None,
    normalized: bool = False,
    title: str | None = None,
) -> list[Path]:
    """Draw `boxes` [n, 4] (with optional text labels) over `image`; return the two paths."""
    img = _as_hwc(image)
    boxes = check_boxes(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4), "draw_boxes")
    if labels is not None and len(labels) != len(boxes):
        raise UserError(f"draw_boxes: {len(labels)} labels for {len(boxes)} boxes")
    h, w = img.shape[:2]
    if normalized:
        boxes = boxes * torch.tensor([w, h, w, h], dtype=torch.float32)
    colours = STYLE["axes.prop_cycle"].by_key()["color"]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4, 4 * h / w))
        ax.imshow(img.numpy(), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            colour = colours[i % len(colours)]
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5,
                                       edgecolor=colour))  # fmt: skip
            if labels is not None:  # the label stays inside the image, on the box's corner
                inside = y1 >= 0
                ax.text(min(max(x1, 0), w), min(max(y1, 0), h), labels[i], fontsize=7,
                        va="bottom" if inside else "top", ha="left", color="white",
                        bbox={"facecolor": colour, "lw": 0, "pad": 1})  # fmt: skip
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_axis_off()
        if title:
            ax.set_title(title)
        return save(fig, Path(path_stem))
