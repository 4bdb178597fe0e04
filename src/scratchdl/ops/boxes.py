"""Boxes as tensors: corner <-> centre form, validation, pairwise IoU and GIoU.

Corner form is (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, centre form is (cx, cy, w, h);
the last dimension always holds the 4 numbers, any leading dimensions are kept.
Twins: torchvision.ops.box_convert, box_iou, generalized_box_iou. One deliberate difference:
where the union (or the enclosing box) has zero area, e.g. two identical zero-area boxes,
torchvision returns 0/0 = NaN and we return 0 (IoU and GIoU), so that an argmax over an IoU
matrix (anchor assignment, NMS) never meets a NaN. Everywhere else the values are equal.
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError


def box_corner_to_center(boxes: torch.Tensor) -> torch.Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h): offsets are encoded in centre form."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_center_to_corner(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2): IoU and drawing work in corner form."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def check_boxes(boxes: torch.Tensor, name: str = "boxes") -> torch.Tensor:
    """Return `boxes` if it is a [..., 4] corner-form tensor without NaN and with x2 >= x1,
    y2 >= y1; else raise a one-line UserError naming the first bad box."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim < 1 or boxes.shape[-1] != 4:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise UserError(
            f"{name}: expected a tensor of shape [..., 4] (x1, y1, x2, y2), got {shape}"
        )
    if not boxes.is_floating_point():
        return boxes
    flat = boxes.reshape(-1, 4)
    nan = torch.isnan(flat).any(1)
    if nan.any():
        i = int(nan.nonzero()[0])
        raise UserError(f"{name}: box {i} has a NaN coordinate {flat[i].tolist()}; remove it")
    bad = (flat[:, 2] < flat[:, 0]) | (flat[:, 3] < flat[:, 1])
    if bad.any():
        i = int(bad.nonzero()[0])
        raise UserError(
            f"{name}: box {i} = {flat[i].tolist()} has x2 < x1 or y2 < y1; expected corner form "
            "(x1, y1, x2, y2) with x1 <= x2, y1 <= y2 (centre form: use box_center_to_corner)"
        )
    return boxes


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Width times height of corner-form boxes, shape [...]."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(boxes1: torch.Tensor, boxes2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, M] intersection and union areas, one coordinate at a time (no [N, M, 2] copies:
    this is NMS's inner loop)."""
    for name, b in (("boxes1", boxes1), ("boxes2", boxes2)):
        if b.ndim != 2 or b.shape[1] != 4:
            raise UserError(
                f"box_iou: {name} must be [N, 4] (x1, y1, x2, y2), got {tuple(b.shape)}"
            )
    ax1, ay1, ax2, ay2 = (boxes1[:, k, None] for k in range(4))
    bx1, by1, bx2, by2 = (boxes2[None, :, k] for k in range(4))
    w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp_(min=0)
    h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp_(min=0)
    inter = w.mul_(h)
    return inter, (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den == 0 (then num is 0 too, for valid boxes)."""
    return torch.where(den > 0, num / den, 0.0)


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union, [N, 4] x [M, 4] -> [N, M] (twin: torchvision box_iou).

    Empty sets give an empty [N, 0] or [0, M] matrix; a zero union gives 0 (not NaN).
    """
    inter, union = _inter_union(boxes1, boxes2)
    return _safe_div(inter, union)


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise GIoU = IoU - (enclosing area - union) / enclosing area, in [-1, 1]
    (twin: torchvision generalized_box_iou); a loss that still has a gradient when boxes
    do not overlap."""
    inter, union = _inter_union(boxes1, boxes2)
    iou = _safe_div(inter, union)
    ax1, ay1, ax2, ay2 = (boxes1[:, k, None] for k in range(4))
    bx1, by1, bx2, by2 = (boxes2[None, :, k] for k in range(4))
    w = (torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)).clamp_(min=0)
    h = (torch.maximum(ay2, by2) - torch.minimum(ay1, by1)).clamp_(min=0)
    enclosing = w * h
    return iou - _safe_div(enclosing - union, enclosing)
