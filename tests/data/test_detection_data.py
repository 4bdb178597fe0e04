"""The procedural detection sets: label checks, caching with a hash, `data show`, hardness."""

import numpy as np
import pytest

from scratchdl.cli.main import main
from scratchdl.data import get_dataset, list_datasets
from scratchdl.data.detection import SHAPES, ProceduralDetection, check_labels
from scratchdl.errors import UserError


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path))
    return ProceduralDetection("tiny-shapes", "test", ["circle", "cup"], size=48,
                               n_objects=(0, 3), scale=(0.2, 0.5),
                               splits={"train": (7, 1), "val": (3, 2)})


def test_check_labels_rejects_bad_boxes_and_accepts_empty():
    check_labels(np.zeros((0, 5)), 3)
    check_labels(np.array([[2, 0, 0, 5, 5], [0, 1, 1, 1, 1]]), 3)
    with pytest.raises(UserError, match=r"xmax < xmin"):
        check_labels(np.array([[0, 10, 0, 5, 5]]), 3)
    with pytest.raises(UserError, match=r"ymax < ymin"):
        check_labels(np.array([[0, 0, 9, 5, 5]]), 3)
    with pytest.raises(UserError, match="NaN"):
        check_labels(np.array([[0, np.nan, 0, 5, 5]]), 3)
    with pytest.raises(UserError, match=r"class 3 is outside 0\.\.2"):
        check_labels(np.array([[3, 0, 0, 5, 5]]), 3)
    with pytest.raises(UserError, match=r"class -1 is outside"):
        check_labels(np.array([[-1, 0, 0, 5, 5]]), 3)
    with pytest.raises(UserError, match=r"expected \[n, 5\]"):
        check_labels(np.zeros((2, 4)), 3)


def test_fetch_caches_with_hash_and_regenerates_a_corrupt_copy(tiny):
    with pytest.raises(UserError, match="scratchdl data fetch tiny-shapes"):
        tiny.load_detection()
    assert "generated 7/3" in tiny.fetch() and tiny.is_present()
    assert "present" in tiny.fetch()
    data = tiny.load_detection()
    train = data.splits["train"]
    assert train.images.shape == (7, 3, 48, 48) and train.images.dtype == np.uint8
    targets = train.targets()
    assert len(targets) == 7 and sum(len(t) for t in targets) == len(train.labels)
    assert any(len(t) == 0 for t in targets)  # n_objects (0, 3): some images are empty
    for i, t in enumerate(targets):  # targets() regroups the flat rows image by image
        assert np.array_equal(t, train.labels[train.labels[:, 0] == i][:, 1:])
    raw = bytearray(tiny.cache_file.read_bytes())
    raw[-100] ^= 0xFF
    tiny.cache_file.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="corrupt"):
        tiny.load_detection()
    assert "generated" in tiny.fetch()
    again = tiny.load_detection().splits["train"]
    assert np.array_equal(again.images, train.images)  # same seed, same bytes


def test_registered_and_refused_as_a_classification_set():
    names = {d["name"] for d in list_datasets()}
    assert {"bananas", "shapes"} <= names
    with pytest.raises(UserError, match="detection set"):
        get_dataset("shapes").load_arrays()


def test_data_show_writes_a_grid(tiny, tmp_path, monkeypatch, capsys):
    from scratchdl.data.registry import _REGISTRY

    monkeypatch.setitem(_REGISTRY, "tiny-shapes", tiny)
    tiny.fetch()
    out = tmp_path / "grid"
    assert main(["data", "show", "tiny-shapes", "--n", "5", "--out", str(out)]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0 and (tmp_path / "grid.pdf").exists()
    assert main(["data", "show", "tiny-shapes", "--split", "test"]) == 2
    assert "has splits train, val" in capsys.readouterr().err


def _coco(targets, preds, num_classes):
    """pycocotools mAP@0.5 and AP@[.5:.95] of per-image predictions [m, 6] (cls, score, box)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (t, p) in enumerate(zip(targets, preds, strict=True)):
        images.append({"id": i, "width": 128, "height": 128})
        for c, x1, y1, x2, y2 in t:
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                         "iscrowd": 0})
        for c, s, x1, y1, x2, y2 in p:
            dets.append({"image_id": i, "category_id": int(c), "score": float(s),
                         "bbox": [x1, y1, x2 - x1, y2 - y1]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": c} for c in range(num_classes)]}
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(dets), "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats[1], ev.stats[0]


def test_shapes_is_hard_for_a_trivial_predictor(capsys):
    """Predicting the most frequent class in a centred box (the mean box) scores near zero,
    while the same evaluator gives the ground truth itself mAP 1."""
    from scratchdl.data.procedural import render_set

    n, seed = 60, SHAPES.splits["val"][1]
    data = render_set(SHAPES.compositor(), n, seed)
    from scratchdl.data.detection import DetectionSplit

    targets = DetectionSplit(data["images"], data["labels"]).targets()
    rows = data["labels"]
    common = np.bincount(rows[:, 1].astype(int)).argmax()
    w, h = (rows[:, 4] - rows[:, 2]).mean(), (rows[:, 5] - rows[:, 3]).mean()
    box = [64 - w / 2, 64 - h / 2, 64 + w / 2, 64 + h / 2]
    trivial = [np.array([[common, 1.0, *box]]) for _ in range(n)]
    map50, coco = _coco(targets, trivial, 6)
    assert map50 < 0.05 and coco < 0.02
    perfect = [np.insert(t, 1, 1.0, axis=1) for t in targets]
    assert _coco(targets, perfect, 6)[0] == pytest.approx(1.0)
