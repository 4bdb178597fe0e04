"""Object detection machinery from scratch, each piece proven equal to its twin in the tests.

boxes    corner <-> centre, box_iou, generalized_box_iou, check_boxes (torchvision.ops)
anchors  multibox_prior (s + r - 1 anchors per pixel), multiscale_anchors
assign   assign_anchors (greedy + threshold), encode/decode_offsets, multibox_target,
         multibox_detection (the book's SSD rules)
nms      nms, batched_nms (torchvision.ops.nms / batched_nms, same kept indices)
roi      roi_pool, roi_align (torchvision.ops, outputs and gradients)
draw     draw_boxes: anchors, truth or predictions over an image, PNG + PDF
metrics  coco_map (pycocotools COCOeval), voc_ap and voc_pr_curves (the VOC devkit rule)
"""

from scratchdl.vision.detection.anchors import anchor_shapes, multibox_prior, multiscale_anchors
from scratchdl.vision.detection.assign import (
    assign_anchors,
    decode_offsets,
    encode_offsets,
    multibox_detection,
    multibox_target,
)
from scratchdl.vision.detection.boxes import (
    box_area,
    box_center_to_corner,
    box_corner_to_center,
    box_iou,
    check_boxes,
    generalized_box_iou,
)
from scratchdl.vision.detection.draw import draw_boxes
from scratchdl.vision.detection.metrics import average_precision, coco_map, voc_ap, voc_pr_curves
from scratchdl.vision.detection.nms import batched_nms, nms
from scratchdl.vision.detection.roi import roi_align, roi_pool

__all__ = [
    "anchor_shapes",
    "assign_anchors",
    "average_precision",
    "batched_nms",
    "box_area",
    "box_center_to_corner",
    "box_corner_to_center",
    "box_iou",
    "check_boxes",
    "coco_map",
    "decode_offsets",
    "draw_boxes",
    "encode_offsets",
    "generalized_box_iou",
    "multibox_detection",
    "multibox_prior",
    "multibox_target",
    "multiscale_anchors",
    "nms",
    "roi_align",
    "roi_pool",
    "voc_ap",
    "voc_pr_curves",
]
