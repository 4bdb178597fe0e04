"""Detection metrics: VOC AP@0.5 (all-point interpolation) and COCO mAP@[.5:.95].

Inputs, one entry per image (torchmetrics' convention):
    predictions[i] = {"boxes": [n, 4] x1y1x2y2, "scores": [n], "labels": [n] int}
    targets[i]     = {"boxes": [m, 4] x1y1x2y2, "labels": [m] int}
labels lie in [0, num_classes). Images without predictions or objects are valid.

coco_map equals pycocotools' COCOeval (iouType "bbox", crowd 0, a ground truth's area = its
box area) number for number: per image and class the top maxDets=100 detections by score,
greedy matching in score order to the unmatched ground truth of highest IoU >= t (ties: the
later one, objects outside the area range last and "ignored"), 101-point interpolated
precision, averaged over 10 IoU thresholds and over the classes that have ground truth.
Area ranges: small < 32^2 <= medium < 96^2 <= large (bounds inclusive, as COCO). A range or
a whole evaluation without any ground truth gives -1, as COCOeval; no predictions give 0.
The matching loops over detection rank (<= 100), vectorized over images, classes, area
ranges and thresholds.

voc_ap: the VOC devkit rule: detections of a class by falling score over all images, each
checks the ground truth of highest IoU; IoU >= 0.5 and that object not yet taken -> true
positive, else false positive; AP is the area under the precision envelope (all points).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from scratchdl.errors import UserError
from scratchdl.ops.boxes import box_area, box_iou, check_boxes

IOU_THRESHOLDS = torch.from_numpy(np.linspace(0.5, 0.95, 10))  # numpy's values, as COCOeval
RECALL_THRESHOLDS = torch.from_numpy(np.linspace(0.0, 1.0, 101))
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2),
               "large": (96.0**2, 1e10)}  # fmt: skip
MAX_DETS = 100
EPS = float(np.spacing(1))


def _prepare(
    predictions: Sequence[dict], targets: Sequence[dict], num_classes: int
) -> list[tuple[torch.Tensor, ...]]:
    """Per image (pred boxes, scores, labels, gt boxes, labels), float64 on the CPU, checked."""
    if len(predictions) != len(targets):
        raise UserError(
            f"detection metrics: {len(predictions)} prediction entries for {len(targets)} "
            "images; give one entry per image (an empty one for an image without detections)"
        )
    out = []
    for i, (p, t) in enumerate(zip(predictions, targets, strict=True)):
        pb = check_boxes(torch.as_tensor(p["boxes"]).double().cpu().reshape(-1, 4), f"image {i}")
        gb = check_boxes(torch.as_tensor(t["boxes"]).double().cpu().reshape(-1, 4), f"image {i}")
        ps = torch.as_tensor(p["scores"]).double().cpu().reshape(-1)
        pl = torch.as_tensor(p["labels"]).long().cpu().reshape(-1)
        gl = torch.as_tensor(t["labels"]).long().cpu().reshape(-1)
        if not (len(pb) == len(ps) == len(pl)) or len(gb) != len(gl):
            raise UserError(f"detection metrics: image {i}: boxes, scores, labels differ in length")
        for name, lab in (("predicted", pl), ("target", gl)):
            if len(lab) and (lab.min() < 0 or lab.max() >= num_classes):
                bad = lab[(lab < 0) | (lab >= num_classes)][0].item()
                raise UserError(
                    f"detection metrics: image {i} has {name} label {bad}, outside the class "
                    f"range [0, {num_classes}); labels must be 0-based class indices"
                )
        out.append((pb, ps, pl, gb, gl))
    return out


def _coco_groups(images: list[tuple[torch.Tensor, ...]], num_classes: int):
    """Padded per-(image, class) tensors: top-100 detections by score, their ground truth."""
    groups = []
    for i, (pb, ps, pl, gb, gl) in enumerate(images):
        for c in range(num_classes):
            dsel, gsel = (pl == c).nonzero().reshape(-1), (gl == c).nonzero().reshape(-1)
            if len(dsel) == 0 and len(gsel) == 0:
                continue
            order = torch.sort(ps[dsel], descending=True, stable=True).indices[:MAX_DETS]
            groups.append((c, i, pb[dsel[order]], ps[dsel[order]], gb[gsel]))
    g, d = len(groups), max([len(x[3]) for x in groups] + [1])
    m = max([len(x[4]) for x in groups] + [1])
    iou = torch.full((g, d, m), -1.0, dtype=torch.float64)
    dt_area, gt_area = (
        torch.zeros(g, d, dtype=torch.float64),
        torch.zeros(g, m, dtype=torch.float64),
    )
    dt_ok, gt_ok = torch.zeros(g, d, dtype=torch.bool), torch.zeros(g, m, dtype=torch.bool)
    scores = torch.zeros(g, d, dtype=torch.float64)
    for k, (_, _, db, ds, gbox) in enumerate(groups):
        iou[k, : len(db), : len(gbox)] = box_iou(db, gbox)
        dt_area[k, : len(db)], gt_area[k, : len(gbox)] = box_area(db), box_area(gbox)
        dt_ok[k, : len(db)], gt_ok[k, : len(gbox)] = True, True
        scores[k, : len(db)] = ds
    cls = torch.tensor([x[0] for x in groups], dtype=torch.long)
    return cls, iou, dt_area, gt_area, dt_ok, gt_ok, scores


def _in_ranges(area: torch.Tensor) -> torch.Tensor:
    """[A, ...]: area within each AREA_RANGES entry (inclusive bounds)."""
    return torch.stack([(area >= lo) & (area <= hi) for lo, hi in AREA_RANGES.values()])


def _coco_match(iou, dt_area, gt_area, dt_ok, gt_ok):
    """COCOeval.evaluateImg for every group at once: (dt matched, dt ignored) [G, A, T, D]."""
    g, d, m = iou.shape
    a, t = len(AREA_RANGES), len(IOU_THRESHOLDS)
    gt_ig = ~_in_ranges(gt_area).permute(1, 0, 2)[:, :, None, :]  # [G, A, 1, M]
    taken = torch.zeros(g, a, t, m, dtype=torch.bool)
    matched = torch.zeros(g, a, t, d, dtype=torch.bool)
    ignored = torch.zeros(g, a, t, d, dtype=torch.bool)
    dt_out = ~_in_ranges(dt_area).permute(1, 0, 2)  # [G, A, D]
    thresholds = IOU_THRESHOLDS.clamp(max=1 - 1e-10)[None, None, :, None]
    for k in range(d):  # detection rank: each takes the best object still free
        row = iou[:, k][:, None, None, :]  # [G, 1, 1, M]
        free = (row >= thresholds) & ~taken & gt_ok[:, None, None, :]
        picks = []
        for tier in (free & ~gt_ig, free & gt_ig):
            score = torch.where(tier, row, -2.0).flip(-1)
            picks.append((tier.any(-1), m - 1 - score.argmax(-1)))  # the later of equal IoUs
        (hit1, m1), (hit2, m2) = picks
        hit = (hit1 | hit2) & dt_ok[:, k][:, None, None]
        which = torch.where(hit1, m1, m2)
        taken |= torch.nn.functional.one_hot(which, m).bool() & hit[..., None]
        matched[..., k] = hit
        ig_of_match = gt_ig.expand(g, a, t, m).gather(-1, which[..., None])[..., 0]
        ignored[..., k] = torch.where(hit, ig_of_match, dt_out[:, :, k][:, :, None])
    return matched, ignored


def _accumulate(matched: torch.Tensor, ignored: torch.Tensor, npig: torch.Tensor):
    """COCOeval.accumulate for one class: detections [A, T, n] in score order ->
    101-point precision [A, T, R] and final recall [A, T]."""
    a_n, t_n, n = matched.shape
    if n == 0:
        zeros = torch.zeros(a_n, t_n, dtype=torch.float64)
        return zeros[..., None].expand(a_n, t_n, len(RECALL_THRESHOLDS)), zeros
    tp = (matched & ~ignored).double().cumsum(-1)
    fp = (~matched & ~ignored).double().cumsum(-1)
    rc = tp / npig[:, None, None]
    pr = tp / (tp + fp + EPS)
    pr = pr.flip(-1).cummax(-1).values.flip(-1)  # precision envelope
    at = RECALL_THRESHOLDS.expand(a_n, t_n, -1).contiguous()
    idx = torch.searchsorted(rc.contiguous(), at)  # first recall >= threshold
    q = torch.where(idx < n, pr.gather(-1, idx.clamp(max=n - 1)), 0.0)
    return q, rc[..., -1]


def coco_map(
    predictions: Sequence[dict], targets: Sequence[dict], num_classes: int
) -> dict[str, float]:
    """COCOeval's bbox summary: map (@[.5:.95]), map_50, map_75, map_small, map_medium,
    map_large (maxDets 100) and mar_100 (average recall), equal to pycocotools."""
    images = _prepare(predictions, targets, num_classes)
    cls, iou, dt_area, gt_area, dt_ok, gt_ok, scores = _coco_groups(images, num_classes)
    a_n, t_n, r_n = len(AREA_RANGES), len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)
    precision = torch.full((t_n, r_n, num_classes, a_n), -1.0, dtype=torch.float64)
    recall = torch.full((t_n, num_classes, a_n), -1.0, dtype=torch.float64)
    if len(cls):
        matched, ignored = _coco_match(iou, dt_area, gt_area, dt_ok, gt_ok)
        gt_counted = _in_ranges(gt_area) & gt_ok[None]  # [A, G, M]
        for c in range(num_classes):  # a loop over classes; each is one tensor computation
            sel = cls == c
            npig = gt_counted[:, sel].sum(dim=(1, 2)).double()  # [A]
            ok = dt_ok[sel].reshape(-1)
            s = scores[sel].reshape(-1)[ok]  # groups are in image order, ranks in score order
            order = torch.sort(s, descending=True, stable=True).indices
            mt = matched[sel].permute(1, 2, 0, 3).reshape(a_n, t_n, -1)[..., ok][..., order]
            ig = ignored[sel].permute(1, 2, 0, 3).reshape(a_n, t_n, -1)[..., ok][..., order]
            q, last = _accumulate(mt, ig, npig.clamp(min=1))
            has = npig > 0
            precision[:, :, c, :] = torch.where(has[:, None, None], q, -1.0).permute(1, 2, 0)
            recall[:, c, :] = torch.where(has[:, None], last, -1.0).T

    def mean(x: torch.Tensor) -> float:
        valid = x[x > -1]
        return float(valid.mean()) if len(valid) else -1.0

    return {
        "map": mean(precision[..., 0]),
        "map_50": mean(precision[0, ..., 0]),
        "map_75": mean(precision[5, ..., 0]),
        "map_small": mean(precision[..., 1]),
        "map_medium": mean(precision[..., 2]),
        "map_large": mean(precision[..., 3]),
        "mar_100": mean(recall[..., 0]),
    }


def average_precision(recall: torch.Tensor, precision: torch.Tensor) -> float:
    """All-point interpolated AP: the area under the precision envelope, recall from 0 to 1."""
    r = torch.cat((torch.zeros(1, dtype=recall.dtype), recall, torch.ones(1, dtype=recall.dtype)))
    p = torch.cat((torch.zeros(1, dtype=precision.dtype), precision,
                   torch.zeros(1, dtype=precision.dtype)))  # fmt: skip
    p = p.flip(0).cummax(0).values.flip(0)
    return float(((r[1:] - r[:-1]) * p[1:]).sum())


def _voc_curve(
    images: list[tuple[torch.Tensor, ...]], c: int, iou_threshold: float
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(recall, precision) of class c by falling score under the VOC rule; None when the
    class has no ground truth."""
    npos = sum(int((gl == c).sum()) for *_, gl in images)
    if npos == 0:
        return None
    rows, base = [], 0  # per image: scores, global index of the best object, its IoU
    for pb, ps, pl, gb, gl in images:
        dsel, gsel = pl == c, gl == c
        if dsel.any():
            n = int(dsel.sum())
            best, obj = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.long)
            if gsel.any():
                ious = box_iou(pb[dsel], gb[gsel])
                best, obj = ious.max(1).values, ious.argmax(1)  # argmax: first of equals
            rows.append((ps[dsel], base + obj, best))
        base += int(gsel.sum())
    if not rows:
        return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    s, key, best = (torch.cat(x) for x in zip(*rows, strict=True))
    order = torch.sort(s, descending=True, stable=True).indices
    key, hit = key[order], best[order] >= iou_threshold
    # a hit is a true positive if it is the first hit on its object in score order
    rank = torch.arange(len(key))
    first = torch.full((base,), len(key), dtype=torch.long)
    first.scatter_reduce_(0, key[hit], rank[hit], reduce="amin")
    tp = hit & (first[key.clamp(max=base - 1)] == rank)  # keys past the end never hit
    tps = tp.double().cumsum(0)
    fps = (~tp).double().cumsum(0)
    return tps / npos, tps / (tps + fps)


def voc_pr_curves(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """{class: (recall, precision)} by falling score, for each class with ground truth; the
    curves whose envelope areas voc_ap reports (empty tensors: no detection of the class)."""
    images = _prepare(predictions, targets, num_classes)
    curves = {c: _voc_curve(images, c, iou_threshold) for c in range(num_classes)}
    return {c: rp for c, rp in curves.items() if rp is not None}


def voc_ap(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    num_classes: int,
    iou_threshold: float = 0.5,
) -> dict[str, float | list[float]]:
    """VOC AP per class and their mean over classes with ground truth ("map"); a class
    without ground truth has AP nan in "ap_per_class"."""
    images = _prepare(predictions, targets, num_classes)
    per_class: list[float] = []
    for c in range(num_classes):
        curve = _voc_curve(images, c, iou_threshold)  # empty curve: AP 0
        per_class.append(float("nan") if curve is None else average_precision(*curve))
    valid = [v for v in per_class if v == v]
    return {"map": sum(valid) / len(valid) if valid else -1.0, "ap_per_class": per_class}
