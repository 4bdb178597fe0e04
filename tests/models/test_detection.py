"""Detectors (TinySSD, YOLO, Faster R-CNN) and the detection metrics adapter, by hand."""

import pytest
import torch

from scratchdl.metrics.detection import voc_ap, voc_pr_curves
from scratchdl.models import build_model
from scratchdl.tasks.vision._detection_eval import evaluate_detections

TARGETS = [
    torch.tensor([[0.0, 10, 12, 40, 50], [2.0, 60, 60, 120, 100]]),
    torch.zeros(0, 5),  # an image without objects trains and evaluates
    torch.tensor([[1.0, 3, 3, 14, 12]]),
]


@pytest.mark.parametrize("name", ["tinyssd", "yolo", "fasterrcnn"])
def test_losses_are_finite_backprop_and_detections_are_pixel_rows(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    x = torch.rand(3, 3, 128, 128)
    out = model.loss(model(x), TARGETS, (128, 128))
    losses = {k: v for k, v in out.items() if k.endswith("_loss")}
    assert losses and all(torch.isfinite(v) for v in out.values())
    assert all(not v.requires_grad for k, v in out.items() if k not in losses)  # metrics
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # a batch of only empty images is valid too
    empty = model.loss(model(x[:2]), [torch.zeros(0, 5)] * 2, (128, 128))
    assert all(torch.isfinite(v) for v in empty.values())
    model.eval()
    dets = model.detect(model(x), (128, 128), max_detections=7)
    assert len(dets) == 3
    for d in dets:
        assert d.shape[1] == 6 and len(d) <= 7
        assert ((d[:, 0] >= 0) & (d[:, 0] < 3)).all()
        assert (d[:, 1][:-1] >= d[:, 1][1:]).all()  # best first


def test_tinyssd_has_the_books_anchor_count():
    model = build_model("tinyssd", num_classes=1)
    anchors, cls, bbox = model(torch.zeros(2, 3, 256, 256))
    assert anchors.shape == (5444, 4)  # the book's 32^2+16^2+8^2+4^2+1 pixels x 4 anchors
    assert cls.shape == (2, 5444, 2) and bbox.shape == (2, 5444 * 4)


def test_yolo_targets_by_hand():
    """An object centred at (44, 20) with size 28x28 belongs to cell (row 2, col 5) of the
    stride-8 grid, anchor 1 (30x30 fits best), offsets (0.5, 0.5) and log(28/30)."""
    model = build_model("yolo", num_classes=2)
    out = torch.zeros(1, 16, 16, 3, 7)
    idx, box, cls = model._targets(out, [torch.tensor([[1.0, 30, 6, 58, 34]])])
    assert idx.tolist() == [[0, 2, 5, 1]] and cls.tolist() == [1]
    expect = torch.tensor([[0.5, 0.5, torch.log(torch.tensor(28 / 30)),
                            torch.log(torch.tensor(28 / 30))]])
    torch.testing.assert_close(box, expect)
    # two objects in one cell and anchor: the later one wins, once
    two = torch.tensor([[0.0, 30, 6, 58, 34], [1.0, 31, 7, 57, 33]])
    idx, _, cls = model._targets(out, [two])
    assert idx.tolist() == [[0, 2, 5, 1]] and cls.tolist() == [1]


def _random_case(seed, n_img=6, classes=3):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n_img):
        n = int(torch.randint(0, 4, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 80
        t = torch.cat([torch.randint(0, classes, (n, 1), generator=g).float(), xy,
                       xy + 10 + torch.rand(n, 2, generator=g) * 30], 1)
        m = int(torch.randint(0, 6, (1,), generator=g))
        pxy = torch.rand(m, 2, generator=g) * 80
        p = torch.cat([torch.randint(0, classes, (m, 1), generator=g).float(),
                       torch.rand(m, 1, generator=g), pxy,
                       pxy + 10 + torch.rand(m, 2, generator=g) * 30], 1)
        p = torch.cat([p, torch.cat([t[:, :1], torch.rand(n, 1, generator=g), t[:, 1:] + 2], 1)])
        preds.append(p)
        targets.append(t)
    return preds, targets


@pytest.mark.parametrize("seed", range(5))
def test_pr_curves_enclose_the_voc_ap(seed):
    from scratchdl.metrics.detection import average_precision

    preds, targets = _random_case(seed)
    p = [{"boxes": r[:, 2:].double(), "scores": r[:, 1].double(), "labels": r[:, 0].long()}
         for r in preds]
    t = [{"boxes": r[:, 1:].double(), "labels": r[:, 0].long()} for r in targets]
    per_class = voc_ap(p, t, 3)["ap_per_class"]
    curves = voc_pr_curves(p, t, 3)
    for c in range(3):
        if per_class[c] != per_class[c]:  # nan: no object of the class
            assert c not in curves
            continue
        r, q = curves[c]
        ap = average_precision(r, q) if len(r) else 0.0
        assert ap == pytest.approx(per_class[c], abs=1e-9)


def test_perfect_and_empty_predictions():
    truth = [t for t in TARGETS]
    perfect = [torch.cat([t[:, :1], torch.ones(len(t), 1), t[:, 1:]], 1) for t in truth]
    m = evaluate_detections(perfect, truth, 3)
    assert m["map50"] == pytest.approx(1.0) and m["map"] == pytest.approx(1.0)
    assert m["map_small"] == pytest.approx(1.0)  # the 11x9 object is the one small one
    none = evaluate_detections([torch.zeros(0, 6)] * 3, truth, 3)
    assert none["map50"] == 0.0 and none["map"] == 0.0
    assert set(none["_curves"]) == {0, 1, 2}


def test_tinyssd_training_measures_are_the_books_class_error_and_bbox_mae():
    """The book's cls_eval / bbox_eval on the same batch, written out by hand."""
    torch.manual_seed(1)
    model = build_model("tinyssd", num_classes=3)
    x = torch.rand(3, 3, 128, 128)
    out = model(x)
    got = model.loss(out, TARGETS, (128, 128))
    bbox_labels, masks, cls_labels = model.targets(out, TARGETS, (128, 128))
    wrong = (out[1].argmax(dim=-1).type(cls_labels.dtype) != cls_labels).sum()
    mae = (torch.abs((bbox_labels - out[2]) * masks)).sum() / bbox_labels.numel()
    assert got["class_error"].item() == pytest.approx(wrong.item() / cls_labels.numel(), rel=1e-6)
    assert got["bbox_mae"].item() == pytest.approx(mae.item(), rel=1e-5)
    assert 0 < got["class_error"] < 1 and got["bbox_mae"] > 0
