"""Non-maximum suppression, plain and class-wise (twins: torchvision.ops.nms, batched_nms).

Rule (the same as torchvision's, checked by the tests): visit boxes by falling score; a box is
kept unless a kept box visited before it has IoU > iou_threshold with it (strictly greater:
IoU equal to the threshold survives). Equal scores are visited in index order (a stable sort),
so of two identical boxes with equal scores the lower index is kept. The result lists kept
indices by falling score, ties by index.

Vectorized without a loop over boxes: the sorted boxes are taken in blocks of `block`; a block
is first cleared against every box kept so far (one IoU matrix), then resolved inside itself
by iterating keep_j = not any(keep_i and IoU_ij > t for i < j) to its fixed point (each pass
fixes at least one more box, in practice a handful of passes). Memory is block x (kept).
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.vision.detection.boxes import box_iou


def _check(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor | None) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UserError(f"nms: boxes must be [N, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    if scores.shape != boxes.shape[:1]:
        raise UserError(f"nms: scores must be [{boxes.shape[0]}], got {tuple(scores.shape)}")
    if idxs is not None and idxs.shape != boxes.shape[:1]:
        raise UserError(f"nms: class indices must be [{boxes.shape[0]}], got {tuple(idxs.shape)}")


def _suppressed_within(over: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Keep mask of one block: over[i, j] = box i would suppress box j (i < j only)."""
    keep = alive.clone()
    while True:
        new = alive & ~(over & keep[:, None]).any(dim=0)
        if torch.equal(new, keep):
            return keep
        keep = new


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    idxs: torch.Tensor | None = None,
    block: int = 1024,
) -> torch.Tensor:
    """Indices of the boxes kept, by falling score. With idxs (a class per box) boxes of
    different classes never suppress each other (that is batched_nms)."""
    _check(boxes, scores, idxs)
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes[order]
    cls = idxs[order] if idxs is not None else None
    kept: list[torch.Tensor] = []  # sorted positions, one tensor per block
    for start in range(0, boxes.shape[0], block):
        stop = min(start + block, boxes.shape[0])
        chunk = boxes[start:stop]
        alive = torch.ones(stop - start, dtype=torch.bool, device=boxes.device)
        if kept:
            prev = torch.cat(kept)
            hit = box_iou(boxes[prev], chunk) > iou_threshold
            if cls is not None:
                hit &= cls[prev][:, None] == cls[start:stop][None, :]
            alive = ~hit.any(dim=0)
        over = torch.triu(box_iou(chunk, chunk) > iou_threshold, diagonal=1)
        if cls is not None:
            over &= cls[start:stop][:, None] == cls[start:stop][None, :]
        keep = _suppressed_within(over, alive)
        kept.append(keep.nonzero().reshape(-1) + start)
    if not kept:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    return order[torch.cat(kept)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-wise NMS: each class (idxs) on its own, one list by falling score, ties by
    index (twin: torchvision.ops.batched_nms)."""
    return nms(boxes, scores, iou_threshold, idxs=idxs)
