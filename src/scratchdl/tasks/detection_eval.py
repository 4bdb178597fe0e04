"""Detection numbers of a split from per-image prediction rows, via vision.detection.metrics.

Rows as the detectors give them: predictions [m, 6] (class, score, x1, y1, x2, y2), targets
[n, 5] (class, x1, y1, x2, y2), pixels. Returns map50 (VOC all-point AP at IoU 0.5, mean
over classes with objects), map (COCO @[.5:.95]), map_small (COCO small-object AP; -1 when
the split has no small object) and, under "_curves", each class's precision-recall points.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.vision.detection import box_iou
from scratchdl.vision.detection.metrics import average_precision, coco_map, voc_ap


def _dicts(preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]):  # noqa: ANN202
    p = [{"boxes": r[:, 2:].double(), "scores": r[:, 1].double(), "labels": r[:, 0].long()}
         for r in preds]
    t = [{"boxes": r[:, 1:].double(), "labels": r[:, 0].long()} for r in targets]
    return p, t


def pr_curve(preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor], cls: int,
             iou_threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(recall, precision) of class `cls` by falling score, the VOC matching rule (a
    detection is a true positive if its best-IoU object of the class is >= the threshold
    and not yet taken). voc_ap gives the area under its envelope; the test checks they agree."""
    rows, npos = [], 0
    for p, t in zip(preds, targets, strict=True):
        p, t = p[p[:, 0] == cls], t[t[:, 0] == cls]
        if len(p):
            best, obj = torch.zeros(len(p)), torch.zeros(len(p), dtype=torch.long)
            if len(t):
                iou = box_iou(p[:, 2:].double(), t[:, 1:].double())
                best, obj = iou.max(1).values.float(), iou.argmax(1)
            rows.append((p[:, 1], obj + npos, best))
        npos += len(t)
    if not rows or npos == 0:
        return torch.zeros(0), torch.zeros(0)
    score, key, best = (torch.cat(x) for x in zip(*rows, strict=True))
    order = torch.sort(score, descending=True, stable=True).indices
    taken = torch.zeros(npos, dtype=torch.bool)
    tp = torch.zeros(len(order), dtype=torch.bool)
    for rank, i in enumerate(order.tolist()):  # at most max_detections per image
        if best[i] >= iou_threshold and not taken[key[i]]:
            taken[key[i]] = tp[rank] = True
    tps = tp.double().cumsum(0)
    return tps / npos, tps / torch.arange(1, len(tp) + 1, dtype=torch.float64)


def evaluate_detections(preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
                        num_classes: int) -> dict:
    """map50, map, map_small and the per-class PR curves ("_curves": {cls: (r, p, ap)})."""
    p, t = _dicts(preds, targets)
    voc = voc_ap(p, t, num_classes)
    coco = coco_map(p, t, num_classes)
    curves = {}
    for c in range(num_classes):
        if any((x[:, 0] == c).any() for x in targets):
            r, q = pr_curve(preds, targets, c)
            ap = average_precision(r, q) if len(r) else 0.0
            curves[c] = (r.numpy(), q.numpy(), ap)
    return {"map50": voc["map"], "map": coco["map"], "map_small": coco["map_small"],
            "_curves": curves}
