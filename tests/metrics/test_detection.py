"""Detection mAP: COCO-style equal to pycocotools COCOeval, VOC AP against the devkit loop."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.metrics.detection import coco_map, voc_ap, voc_pr_curves
from scratchdl.ops.boxes import box_iou

COCO_KEYS = {"map": 0, "map_50": 1, "map_75": 2, "map_small": 3, "map_medium": 4,
             "map_large": 5, "mar_100": 8}  # fmt: skip


def pycocotools_stats(preds: list[dict], targets: list[dict], num_classes: int) -> list[float]:
    """COCOeval on the same boxes, COCO objects built in memory (no files), crowd 0."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        images.append({"id": i + 1, "width": 400, "height": 400})
        for b, lab in zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": lab + 1,
                         "bbox": [b[0], b[1], w, h], "area": w * h, "iscrowd": 0})  # fmt: skip
        for b, s, lab in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(),
                             strict=True):  # fmt: skip
            dets.append({"image_id": i + 1, "category_id": lab + 1, "score": s,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c + 1} for c in range(num_classes)]}  # fmt: skip
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(ev.stats[i]) for i in COCO_KEYS.values()]


def random_case(seed: int, images: int = 6, classes: int = 3, max_dets: int = 30,
                jitter: float = 8.0) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """Objects of all sizes; detections are jittered objects (mostly the right class) and
    random boxes; scores on a coarse grid so that ties happen."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(images):
        m = int(torch.randint(0, 7, (1,), generator=g))
        xy = torch.rand(m, 2, generator=g, dtype=torch.float64) * 250
        gb = torch.cat((xy, xy + torch.rand(m, 2, generator=g, dtype=torch.float64) * 140 + 2), 1)
        gl = torch.randint(0, classes, (m,), generator=g)
        k = int(torch.randint(0, max_dets, (1,), generator=g))
        pick = torch.randint(0, max(m, 1), (k,), generator=g)
        jit = (gb[pick] if m else torch.zeros(k, 4, dtype=torch.float64)) + jitter * torch.randn(
            k, 4, generator=g, dtype=torch.float64
        )
        rxy = torch.rand(k, 2, generator=g, dtype=torch.float64) * 250
        rnd = torch.cat(
            (rxy, rxy + torch.rand(k, 2, generator=g, dtype=torch.float64) * 120 + 1), 1
        )
        use = torch.rand(k, generator=g) < (0.75 if m else 0.0)
        pb = torch.where(use[:, None], jit, rnd)
        pb = torch.cat((pb[:, :2].minimum(pb[:, 2:]), pb[:, :2].maximum(pb[:, 2:])), 1)
        right = gl[pick] if m else torch.zeros(k, dtype=torch.long)
        pl = torch.where(use & (torch.rand(k, generator=g) < 0.85), right,
                         torch.randint(0, classes, (k,), generator=g))  # fmt: skip
        ps = torch.randint(0, 12, (k,), generator=g).double() / 12
        preds.append({"boxes": pb, "scores": ps, "labels": pl})
        targets.append({"boxes": gb, "labels": gl})
    return preds, targets


def ours_list(result: dict[str, float]) -> list[float]:
    return [result[k] for k in COCO_KEYS]


@pytest.mark.parametrize("seed", range(5))
def test_coco_map_equals_pycocotools(seed: int) -> None:
    preds, targets = random_case(seed, jitter=4.0 + 4 * seed)
    ours = ours_list(coco_map(preds, targets, 3))
    assert ours == pytest.approx(pycocotools_stats(preds, targets, 3), abs=1e-12)


def test_coco_map_more_than_100_detections_and_empty_images() -> None:
    preds, targets = random_case(11, images=3, classes=2, max_dets=260, jitter=3.0)
    preds.append({"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)})
    targets.append({"boxes": torch.tensor([[10.0, 10, 50, 60]]), "labels": torch.tensor([1])})
    preds.append({"boxes": torch.tensor([[1.0, 1, 20, 20]]), "scores": torch.tensor([0.9]),
                  "labels": torch.tensor([0])})  # fmt: skip
    targets.append({"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)})
    assert max(len(p["boxes"]) for p in preds) > 100
    ours = ours_list(coco_map(preds, targets, 2))
    assert ours == pytest.approx(pycocotools_stats(preds, targets, 2), abs=1e-12)


def test_perfect_empty_and_no_ground_truth() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [50, 50, 200, 200], [20, 0, 60, 70]])
    labels = torch.tensor([0, 1, 1])
    targets = [{"boxes": boxes, "labels": labels}]
    perfect = [{"boxes": boxes, "scores": torch.tensor([0.5, 0.9, 0.7]), "labels": labels}]
    result = coco_map(perfect, targets, 2)
    # precision is tp / (tp + fp + eps), as COCOeval: 1 - 2e-16, not exactly 1
    assert [result[k] for k in ("map", "map_small", "map_large")] == pytest.approx([1.0] * 3)
    assert voc_ap(perfect, targets, 2)["map"] == 1.0
    assert pycocotools_stats(perfect, targets, 2)[0] == pytest.approx(1.0)
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}]
    assert coco_map(empty, targets, 2)["map"] == 0.0  # pycocotools' loadRes fails on []
    assert voc_ap(empty, targets, 2) == {"map": 0.0, "ap_per_class": [0.0, 0.0]}
    nothing = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}]
    assert coco_map(perfect, nothing, 2)["map"] == -1.0  # no ground truth at all: -1, as COCO
    assert (
        voc_ap(perfect, targets, 3)["ap_per_class"][2]
        != voc_ap(perfect, targets, 3)["ap_per_class"][2]
    )  # a class without objects: nan, left out of the mean


def test_bad_labels_and_lengths_one_line() -> None:
    t = [{"boxes": torch.tensor([[0.0, 0, 1, 1]]), "labels": torch.tensor([3])}]
    p = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}]
    with pytest.raises(UserError, match=r"target label 3, outside the class range \[0, 3\)") as e:
        coco_map(p, t, 3)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="one entry per image"):
        voc_ap(p * 2, t, 5)
    bad = [{"boxes": torch.tensor([[5.0, 0, 1, 1]]), "labels": torch.tensor([0])}]
    with pytest.raises(UserError, match="x2 < x1"):
        voc_ap(p, bad, 1)


def test_voc_ap_hand_example() -> None:
    gt = {
        "boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]),
        "labels": torch.tensor([0, 0]),
    }
    det = {
        "boxes": torch.tensor(
            [[0.0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 31], [50, 50, 60, 60]]
        ),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]),
        "labels": torch.tensor([0, 0, 0, 0]),
    }
    # TP, FP (same object again), TP, FP: recall .5 .5 1 1, precision 1 .5 2/3 .5
    # envelope at recall .5 is 1, at recall 1 is 2/3: AP = .5 * 1 + .5 * 2/3
    result = voc_ap([det], [gt], 1)
    assert result["ap_per_class"] == [pytest.approx(0.5 + 0.5 * 2 / 3)]


def devkit_voc_curve(preds: list[dict], targets: list[dict], c: int,
                     t: float = 0.5) -> tuple[list[float], list[float]]:
    """The VOC devkit loop written plainly: one detection at a time, 'taken' flags; the
    (recall, precision) after each detection by falling score."""
    dets = [
        (float(s), i, b)
        for i, p in enumerate(preds)
        for b, s, lab in zip(p["boxes"], p["scores"], p["labels"], strict=True)
        if lab == c
    ]
    dets.sort(key=lambda d: -d[0])  # Python's sort is stable: ties keep image order
    gts = {i: tg["boxes"][tg["labels"] == c] for i, tg in enumerate(targets)}
    taken = {i: [False] * len(g) for i, g in gts.items()}
    npos = sum(len(g) for g in gts.values())
    tp, fp = [], []
    for _, i, b in dets:
        ious = box_iou(b[None], gts[i])[0] if len(gts[i]) else torch.zeros(0)
        j = int(ious.argmax()) if len(ious) else -1
        ok = j >= 0 and ious[j] >= t and not taken[i][j]
        if ok:
            taken[i][j] = True
        tp.append(float(ok))
        fp.append(float(not ok))
    ctp, cfp, rec, prec = 0.0, 0.0, [], []
    for a, b in zip(tp, fp, strict=True):
        ctp, cfp = ctp + a, cfp + b
        rec.append(ctp / npos)
        prec.append(ctp / (ctp + cfp))
    return rec, prec


def devkit_voc_ap(preds: list[dict], targets: list[dict], c: int, t: float = 0.5) -> float:
    rec, prec = devkit_voc_curve(preds, targets, c, t)
    rec, prec = [0.0, *rec], [0.0, *prec]
    rec.append(1.0)
    prec.append(0.0)
    for k in range(len(prec) - 2, -1, -1):
        prec[k] = max(prec[k], prec[k + 1])
    return sum((rec[k + 1] - rec[k]) * prec[k + 1] for k in range(len(rec) - 1))


@pytest.mark.parametrize("seed", range(4))
def test_voc_ap_equals_devkit_loop(seed: int) -> None:
    preds, targets = random_case(100 + seed, jitter=6.0)
    result = voc_ap(preds, targets, 3)
    for c in range(3):
        if sum(int((t["labels"] == c).sum()) for t in targets):
            assert result["ap_per_class"][c] == pytest.approx(devkit_voc_ap(preds, targets, c),
                                                              abs=1e-12)  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_voc_pr_curves_equal_devkit_loop_point_by_point(seed: int) -> None:
    preds, targets = random_case(200 + seed, jitter=6.0)
    curves = voc_pr_curves(preds, targets, 3)
    for c in range(3):
        if not sum(int((t["labels"] == c).sum()) for t in targets):
            assert c not in curves
            continue
        rec, prec = devkit_voc_curve(preds, targets, c)
        assert curves[c][0].tolist() == pytest.approx(rec, abs=1e-12)
        assert curves[c][1].tolist() == pytest.approx(prec, abs=1e-12)


def test_coco_map_boundary_areas_and_equal_ious_match_pycocotools() -> None:
    """Objects of exactly 32x32 and 96x96 (in two area ranges at once: bounds inclusive),
    two identical objects (equal IoUs: the later one is taken first), equal scores."""
    gt = torch.tensor([[0.0, 0, 32, 32], [100, 100, 196, 196], [50, 0, 90, 30], [50, 0, 90, 30],
                       [200, 200, 231, 233]])  # fmt: skip
    det = torch.tensor([[1.0, 0, 32, 32], [100, 100, 196, 190], [50, 0, 90, 30], [50, 0, 90, 31],
                        [50, 0, 90, 30], [0, 0, 31, 33], [201, 200, 231, 233]])  # fmt: skip
    preds = [{"boxes": det, "scores": torch.tensor([0.9, 0.8, 0.8, 0.7, 0.7, 0.95, 0.5]),
              "labels": torch.tensor([0, 0, 0, 0, 1, 0, 0])}]  # fmt: skip
    targets = [{"boxes": gt, "labels": torch.tensor([0, 0, 0, 0, 0])}]
    ours = ours_list(coco_map(preds, targets, 2))
    twin = pycocotools_stats(preds, targets, 2)
    assert ours == pytest.approx(twin, abs=1e-12)
    assert 0 < twin[0] < 1 and twin[3] > -1 and twin[4] > -1
