"""Training targets for anchors and detections from predicted offsets (the book's SSD rules).

assign_anchors: greedy matching (take the largest IoU in the anchor x ground-truth matrix,
assign that pair, discard its row and column; #gt times), then every anchor left over takes
its best ground truth if that IoU >= iou_threshold. Only the greedy part loops, over ground
truth boxes; everything over anchors is one tensor operation. As in the book, every ground
truth box gets an anchor even when no anchor overlaps it (then the first anchor of the
remaining rows); ties go to the lowest (anchor, gt) index in row-major order.

encode_offsets / decode_offsets: centre offsets scaled by the anchor size and divided by 0.1,
log size ratios divided by 0.2 (the book's constants 10 and 5), so that the targets have
roughly unit variance.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.errors import UserError
from scratchdl.ops.boxes import (
    box_center_to_corner,
    box_corner_to_center,
    box_iou,
    check_boxes,
)
from scratchdl.ops.nms import nms

CENTRE_STD, SIZE_STD, EPS = 0.1, 0.2, 1e-6


def assign_anchors(
    gt_boxes: torch.Tensor, anchors: torch.Tensor, iou_threshold: float = 0.5
) -> torch.Tensor:
    """For each anchor the index of its ground-truth box, or -1 (background); shape [A]."""
    num_anchors, num_gt = anchors.shape[0], gt_boxes.shape[0]
    assigned = torch.full((num_anchors,), -1, dtype=torch.long, device=anchors.device)
    if num_gt == 0 or num_anchors == 0:
        return assigned
    iou = box_iou(anchors, gt_boxes)
    best_iou = iou.max(dim=1).values
    best_gt = iou.argmax(dim=1)  # argmax is documented to return the first maximum
    assigned = torch.where(best_iou >= iou_threshold, best_gt, assigned)
    work = iou.clone()
    for _ in range(min(num_gt, num_anchors)):  # greedy: one ground truth per pass
        flat = int(work.argmax())
        anchor, gt = divmod(flat, num_gt)
        assigned[anchor] = gt
        work[:, gt] = -1.0
        work[anchor, :] = -1.0
    return assigned


def encode_offsets(anchors: torch.Tensor, boxes: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Offsets [.., 4] that move each anchor onto its box (both corner form)."""
    a, b = box_corner_to_center(anchors), box_corner_to_center(boxes)
    xy = (b[..., :2] - a[..., :2]) / a[..., 2:] / CENTRE_STD
    wh = torch.log(eps + b[..., 2:] / a[..., 2:]) / SIZE_STD
    return torch.cat((xy, wh), dim=-1)


def decode_offsets(anchors: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Corner-form boxes from anchors and predicted offsets (inverse of encode_offsets up to
    its eps)."""
    a = box_corner_to_center(anchors)
    xy = offsets[..., :2] * CENTRE_STD * a[..., 2:] + a[..., :2]
    wh = torch.exp(offsets[..., 2:] * SIZE_STD) * a[..., 2:]
    return box_center_to_corner(torch.cat((xy, wh), dim=-1))


def _labels_list(labels: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """Per-image [n_i, 5] tensors; rows with a negative class (padding) are dropped."""
    out = []
    for i, lab in enumerate(labels):
        if lab.ndim != 2 or lab.shape[1] != 5:
            raise UserError(
                f"multibox_target: image {i} labels have shape {tuple(lab.shape)}; expected "
                "[n, 5] rows (class, x1, y1, x2, y2), n may be 0"
            )
        lab = lab[lab[:, 0] >= 0]
        check_boxes(lab[:, 1:], f"multibox_target: image {i} boxes")
        out.append(lab)
    return out


def _squeeze_anchors(anchors: torch.Tensor) -> torch.Tensor:
    if anchors.ndim == 3 and anchors.shape[0] == 1:
        anchors = anchors[0]
    if anchors.ndim != 2 or anchors.shape[1] != 4:
        raise UserError(f"anchors: expected shape [A, 4] or [1, A, 4], got {tuple(anchors.shape)}")
    return anchors


def multibox_target(
    anchors: torch.Tensor,
    labels: Sequence[torch.Tensor] | torch.Tensor,
    iou_threshold: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets for a batch: (offsets [B, A*4], offset mask [B, A*4], classes [B, A]).

    labels: one [n_i, 5] tensor per image (class, x1, y1, x2, y2), in the anchors' units; an
    image may have no objects, and a padded [B, n, 5] tensor works too (class -1 rows are
    padding). Target class 0 is background, an object of class c gets c + 1; the mask is 1 on
    the 4 offsets of every assigned anchor, 0 elsewhere (those offsets are 0).
    """
    anchors = _squeeze_anchors(anchors)
    offsets, masks, classes = [], [], []
    for lab in _labels_list(labels):
        lab = lab.to(anchors.device, anchors.dtype)
        assigned = assign_anchors(lab[:, 1:], anchors, iou_threshold)
        positive = assigned >= 0
        index = assigned.clamp(min=0)
        cls = torch.where(positive, lab[index, 0].long() + 1, 0) if len(lab) else assigned + 1
        boxes = lab[index, 1:] if len(lab) else anchors
        off = torch.where(positive[:, None], encode_offsets(anchors, boxes), 0.0)
        offsets.append(off.reshape(-1))
        masks.append(positive[:, None].expand(-1, 4).reshape(-1).to(anchors.dtype))
        classes.append(cls)
    return torch.stack(offsets), torch.stack(masks), torch.stack(classes)


def multibox_detection(
    cls_probs: torch.Tensor,
    offsets: torch.Tensor,
    anchors: torch.Tensor,
    nms_threshold: float = 0.5,
    pos_threshold: float = 0.009999999,
    nms_impl: str = "scratch",
) -> torch.Tensor:
    """Detections [B, A, 6] (class, confidence, x1, y1, x2, y2), as the book's
    multibox_detection: decode every anchor, take its best non-background class, run NMS over
    all classes together; the kept boxes come first by falling confidence, then the rest with
    class -1. A kept box below pos_threshold also becomes class -1 with confidence 1 - p.

    cls_probs: [B, 1 + classes, A] probabilities (row 0 background); offsets: [B, A*4].
    nms_impl: "scratch" (ours) or "torchvision" (its fused kernel, the same kept indices:
    tests/ops/test_boxes_anchors_nms.py), for a recipe's production path.
    """
    if nms_impl not in ("scratch", "torchvision"):
        raise UserError(f"multibox_detection: nms_impl must be 'scratch' or 'torchvision', "
                        f"got {nms_impl!r}")  # fmt: skip
    suppress = nms
    if nms_impl == "torchvision":
        from torchvision.ops import nms as suppress
    anchors = _squeeze_anchors(anchors)
    if cls_probs.ndim != 3 or cls_probs.shape[2] != anchors.shape[0]:
        raise UserError(
            f"multibox_detection: cls_probs must be [B, 1 + classes, {anchors.shape[0]}], "
            f"got {tuple(cls_probs.shape)}"
        )
    batch, num_anchors = cls_probs.shape[0], anchors.shape[0]
    if offsets.shape != (batch, num_anchors * 4):
        raise UserError(
            f"multibox_detection: offsets must be [{batch}, {num_anchors * 4}], "
            f"got {tuple(offsets.shape)}"
        )
    out = []
    for probs, off in zip(cls_probs, offsets, strict=True):
        conf, cls = probs[1:].max(dim=0)
        boxes = decode_offsets(anchors, off.reshape(-1, 4))
        keep = suppress(boxes, conf, nms_threshold)
        kept = torch.zeros(num_anchors, dtype=torch.bool, device=anchors.device)
        kept[keep] = True
        rest = (~kept).nonzero().reshape(-1)
        order = torch.cat((keep, rest))
        cls = torch.where(kept, cls, -1)[order]
        conf, boxes = conf[order], boxes[order]
        low = conf < pos_threshold
        cls = torch.where(low, -1, cls)
        conf = torch.where(low, 1 - conf, conf)
        out.append(torch.cat((cls[:, None].to(conf.dtype), conf[:, None], boxes), dim=1))
    return torch.stack(out)
