"""Non-maximum suppression, plain and class-wise (twins: torchvision.ops.nms, batched_nms).

Rule (the same as torchvision's, checked by the tests): visit boxes by falling score; a box is
kept unless a kept box visited before it has IoU > iou_threshold with it (strictly greater:
IoU equal to the threshold survives). Equal scores are visited in index order (a stable sort),
so of two identical boxes with equal scores the lower index is kept. The result lists kept
indices by falling score, ties by index.

Vectorized without a loop over boxes: the sorted boxes are taken in blocks of `block`; a block
is first cleared against every box kept so far (one IoU matrix), then its survivors are
resolved among themselves
by iterating keep_j = not any(keep_i and IoU_ij > t for i < j) to its fixed point (each pass
fixes at least one more box, in practice a handful of passes). Memory is block x (kept).
The work is the same O(N x kept) IoU pairs as torchvision's C++ loop, in tensor form; the
block size (256) was the fastest of 256..2048 on 1k and 10k boxes on a 1-thread CPU.
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.ops.boxes import box_iou


def _check(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor | None) -> None:
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UserError(f"nms: boxes must be [N, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    if scores.shape != boxes.shape[:1]:
        raise UserError(f"nms: scores must be [{boxes.shape[0]}], got {tuple(scores.shape)}")
    if idxs is not None and idxs.shape != boxes.shape[:1]:
        raise UserError(f"nms: class indices must be [{boxes.shape[0]}], got {tuple(idxs.shape)}")


def _suppressed_within(over: torch.Tensor) -> torch.Tensor:
    """Keep mask of one block: over[i, j] = box i would suppress box j (i < j only)."""
    by = over.T.to(torch.float32).contiguous()  # by[j, i]: j is suppressed by i; rows for a matvec
    keep = torch.ones(over.shape[0], dtype=torch.bool, device=over.device)
    while True:
        new = (by @ keep.to(torch.float32)) == 0
        if torch.equal(new, keep):
            return keep
        keep = new


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float,
    idxs: torch.Tensor | None = None,
    block: int = 256,
) -> torch.Tensor:
    """Indices of the boxes kept, by falling score. With idxs (a class per box) boxes of
    different classes never suppress each other (that is batched_nms)."""
    _check(boxes, scores, idxs)
    order = torch.sort(scores, descending=True, stable=True).indices
    boxes = boxes[order]
    cls = idxs[order] if idxs is not None else None
    kept: list[torch.Tensor] = []  # sorted positions, one tensor per block
    kept_boxes = boxes[:0]
    kept_cls = cls[:0] if cls is not None else None
    for start in range(0, boxes.shape[0], block):
        pos = torch.arange(start, min(start + block, boxes.shape[0]), device=boxes.device)
        if len(kept_boxes):  # cleared against every box kept so far
            hit = box_iou(boxes[pos], kept_boxes) > iou_threshold
            if cls is not None:
                hit &= cls[pos][:, None] == kept_cls[None, :]
            pos = pos[~hit.any(dim=1)]
        over = torch.triu(box_iou(boxes[pos], boxes[pos]) > iou_threshold, diagonal=1)
        if cls is not None:
            over &= cls[pos][:, None] == cls[pos][None, :]
        pos = pos[_suppressed_within(over)]  # then resolved inside the block
        kept.append(pos)
        kept_boxes = torch.cat((kept_boxes, boxes[pos]))
        if cls is not None:
            kept_cls = torch.cat((kept_cls, cls[pos]))
    if not kept:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    return order[torch.cat(kept)]


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Class-wise NMS: each class (idxs) on its own, one list by falling score, ties by
    index (twin: torchvision.ops.batched_nms)."""
    return nms(boxes, scores, iou_threshold, idxs=idxs)
