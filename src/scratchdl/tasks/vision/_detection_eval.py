"""Detection numbers of a split from per-image prediction rows, via vision.detection.metrics.

Rows as the detectors give them: predictions [m, 6] (class, score, x1, y1, x2, y2), targets
[n, 5] (class, x1, y1, x2, y2), pixels. Returns map50 (VOC all-point AP at IoU 0.5, mean
over classes with objects), map (COCO @[.5:.95]), map_small (COCO small-object AP; -1 when
the split has no small object) and, under "_curves", each class's precision-recall points.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.metrics.detection import coco_map, voc_ap, voc_pr_curves


def _dicts(preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]):  # noqa: ANN202
    p = [{"boxes": r[:, 2:].double(), "scores": r[:, 1].double(), "labels": r[:, 0].long()}
         for r in preds]
    t = [{"boxes": r[:, 1:].double(), "labels": r[:, 0].long()} for r in targets]
    return p, t


def evaluate_detections(preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                        num_classes: int) -> dict:
    """map50, map, map_small and the per-class PR curves ("_curves": {cls: (r, p, ap)})."""
    p, t = _dicts(preds, targets)
    voc = voc_ap(p, t, num_classes)
    coco = coco_map(p, t, num_classes)
    curves = {c: (r.numpy(), q.numpy(), voc["ap_per_class"][c])
              for c, (r, q) in voc_pr_curves(p, t, num_classes).items()}
    return {"map50": voc["map"], "map": coco["map"], "map_small": coco["map_small"],
            "_curves": curves}
