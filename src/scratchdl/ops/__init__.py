"""Box operations from scratch (torchvision.ops' territory), each proven equal to its twin.

boxes    corner <-> centre, box_iou, generalized_box_iou, check_boxes (torchvision.ops)
anchors  multibox_prior (s + r - 1 anchors per pixel), multiscale_anchors
assign   assign_anchors (greedy + threshold), encode/decode_offsets, multibox_target,
         multibox_detection (the book's SSD rules)
nms      nms, batched_nms (torchvision.ops.nms / batched_nms, same kept indices)
roi      roi_pool, roi_align (torchvision.ops, outputs and gradients)

Drawing boxes is scratchdl.plots.boxes; mAP is scratchdl.metrics.detection.
"""

from scratchdl.ops.anchors import anchor_shapes, multibox_prior, multiscale_anchors
from scratchdl.ops.assign import (
    assign_anchors,
    decode_offsets,
    encode_offsets,
    multibox_detection,
    multibox_target,
)
from scratchdl.ops.boxes import (
    box_area,
    box_center_to_corner,
    box_corner_to_center,
    box_iou,
    check_boxes,
    generalized_box_iou,
)
from scratchdl.ops.nms import batched_nms, nms
from scratchdl.ops.roi import roi_align, roi_pool

__all__ = [
    "anchor_shapes",
    "assign_anchors",
    "batched_nms",
    "box_area",
    "box_center_to_corner",
    "box_corner_to_center",
    "box_iou",
    "check_boxes",
    "decode_offsets",
    "encode_offsets",
    "generalized_box_iou",
    "multibox_detection",
    "multibox_prior",
    "multibox_target",
    "multiscale_anchors",
    "nms",
    "roi_align",
    "roi_pool",
]
