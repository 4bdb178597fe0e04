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
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area1[:, None] + area2[None, :] - inter


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den == 0 (then num is 0 too)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), 0.0)


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
    top_left = torch.min(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.max(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return iou - _safe_div(enclosing - union, enclosing)
