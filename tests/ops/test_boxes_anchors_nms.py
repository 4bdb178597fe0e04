"""Boxes, anchors, assignment, offsets and NMS against torchvision and plain references."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torchvision import ops

from scratchdl.errors import UserError
from scratchdl.ops import (
    anchor_shapes,
    assign_anchors,
    batched_nms,
    box_center_to_corner,
    box_corner_to_center,
    box_iou,
    check_boxes,
    decode_offsets,
    encode_offsets,
    generalized_box_iou,
    multibox_detection,
    multibox_prior,
    multibox_target,
    multiscale_anchors,
    nms,
)


def random_boxes(n: int, gen: torch.Generator, scale: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * scale
    wh = torch.rand(n, 2, generator=gen) * scale / 3
    return torch.cat((xy, xy + wh), dim=1)


def test_corner_centre_round_trip_and_twin() -> None:
    gen = torch.Generator().manual_seed(0)
    b = random_boxes(50, gen)
    c = box_corner_to_center(b)
    torch.testing.assert_close(c, ops.box_convert(b, "xyxy", "cxcywh"))
    torch.testing.assert_close(box_center_to_corner(c), b)
    assert box_corner_to_center(torch.tensor([[1.0, 2.0, 5.0, 10.0]])).tolist() == [
        [3.0, 6.0, 4.0, 8.0]
    ]
    assert box_corner_to_center(torch.zeros(2, 3, 4)).shape == (2, 3, 4)  # leading dims kept


def test_iou_and_giou_equal_torchvision() -> None:
    gen = torch.Generator().manual_seed(1)
    for n, m in [(1, 1), (7, 13), (40, 3)]:
        a, b = random_boxes(n, gen), random_boxes(m, gen)
        torch.testing.assert_close(box_iou(a, b), ops.box_iou(a, b))
        torch.testing.assert_close(generalized_box_iou(a, b), ops.generalized_box_iou(a, b))
    # hand value: [0,0,2,2] vs [1,1,3,3]: inter 1, union 7; enclosing 9 -> giou 1/7 - 2/9
    a, b = torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 1, 3, 3]])
    assert box_iou(a, b).item() == pytest.approx(1 / 7)
    assert generalized_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / 9)


def test_iou_empty_sets_and_zero_area() -> None:
    a = random_boxes(5, torch.Generator().manual_seed(2))
    empty = torch.zeros(0, 4)
    assert box_iou(a, empty).shape == (5, 0) == ops.box_iou(a, empty).shape
    assert box_iou(empty, a).shape == (0, 5)
    assert generalized_box_iou(empty, a).shape == (0, 5)
    point = torch.tensor([[3.0, 3.0, 3.0, 3.0], [1.0, 1.0, 1.0, 9.0]])  # zero-area boxes
    both = torch.cat((point, a))
    ours, twin = box_iou(both, both), ops.box_iou(both, both)
    finite = twin.isfinite()
    torch.testing.assert_close(ours[finite], twin[finite])
    assert not finite.all()  # torchvision divides 0 by 0 for a point against itself ...
    assert (ours[~finite] == 0).all()  # ... we define that IoU as 0
    g, gt = generalized_box_iou(both, both), ops.generalized_box_iou(both, both)
    torch.testing.assert_close(g[gt.isfinite()], gt[gt.isfinite()])
    assert g.isfinite().all()


def test_check_boxes_one_line_errors() -> None:
    ok = torch.tensor([[0.0, 0, 1, 1], [2, 2, 2, 2]])
    assert check_boxes(ok) is ok
    with pytest.raises(UserError, match=r"box 1 .* x2 < x1") as e:
        check_boxes(torch.tensor([[0.0, 0, 1, 1], [5, 0, 1, 1]]))
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="NaN"):
        check_boxes(torch.tensor([[0.0, float("nan"), 1, 1]]))
    with pytest.raises(UserError, match=r"\[\.\.\., 4\]"):
        check_boxes(torch.zeros(3, 5))
    with pytest.raises(UserError, match=r"boxes2 must be \[N, 4\].*got \(3, 5\)"):
        box_iou(ok, torch.zeros(3, 5))


def book_multibox_prior(fh: int, fw: int, sizes: list[float], ratios: list[float]) -> list:
    """The book's rule written out anchor by anchor (normalized, aspect from the map)."""
    out = []
    for i, j in itertools.product(range(fh), range(fw)):
        cy, cx = (i + 0.5) / fh, (j + 0.5) / fw
        pairs = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
        for s, r in pairs:
            w, h = s * math.sqrt(r) * fh / fw, s / math.sqrt(r)
            out.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return out


@pytest.mark.parametrize("fh,fw", [(1, 1), (3, 5), (4, 4)])
def test_multibox_prior_matches_the_book_rule(fh: int, fw: int) -> None:
    sizes, ratios = [0.75, 0.5, 0.25], [1.0, 2.0, 0.5]
    anchors = multibox_prior((fh, fw), sizes, ratios)
    assert anchors.shape == (fh * fw * 5, 4)
    torch.testing.assert_close(anchors, torch.tensor(book_multibox_prior(fh, fw, sizes, ratios)))


def test_multibox_prior_in_pixels() -> None:
    anchors = multibox_prior((2, 4), [0.5], [1.0, 4.0], image_hw=(100, 200))
    # pixel (0, 0) has centre (25, 25); size 0.5 ratio 1 -> 50 x 50 pixels; ratio 4 -> 100 x 25
    torch.testing.assert_close(anchors[0], torch.tensor([0.0, 0.0, 50.0, 50.0]))
    torch.testing.assert_close(anchors[1], torch.tensor([-25.0, 12.5, 75.0, 37.5]))
    assert anchors.shape == (16, 4)
    w, h = anchor_shapes([0.5], [4.0]).T
    assert (w / h).item() == pytest.approx(4.0)


def test_multiscale_anchors_and_bad_sizes() -> None:
    maps = multiscale_anchors(
        [(4, 4), (2, 2), (1, 1)], [[0.2, 0.27], [0.37, 0.45], [0.88, 0.96]], [1, 2, 0.5]
    )
    assert [m.shape[0] for m in maps] == [64, 16, 4]
    with pytest.raises(UserError, match="size lists"):
        multiscale_anchors([(4, 4)], [[0.2], [0.3]], [1.0])
    with pytest.raises(UserError, match="> 0"):
        multibox_prior((2, 2), [0.0], [1.0])
    with pytest.raises(UserError, match=">= 1"):
        multibox_prior((0, 2), [0.5], [1.0])


def brute_force_assign(gt: torch.Tensor, anchors: torch.Tensor, threshold: float) -> list[int]:
    """The book's rule written plainly: greedy over the IoU matrix, then threshold."""
    iou = [
        [box_iou(anchors[a : a + 1], gt[g : g + 1]).item() for g in range(len(gt))]
        for a in range(len(anchors))
    ]
    result = [-1] * len(anchors)
    rows, cols = set(range(len(anchors))), set(range(len(gt)))
    while rows and cols:
        best = None
        for a in sorted(rows):
            for g in sorted(cols):
                if best is None or iou[a][g] > iou[best[0]][best[1]]:
                    best = (a, g)
        result[best[0]] = best[1]
        rows.discard(best[0])
        cols.discard(best[1])
    for a in rows:
        g = max(range(len(gt)), key=lambda k: (iou[a][k], -k)) if len(gt) else None
        if g is not None and iou[a][g] >= threshold:
            result[a] = g
    return result


@pytest.mark.parametrize("seed", range(6))
def test_assignment_equals_brute_force(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    anchors = multibox_prior((4, 4), [0.4, 0.2], [1.0, 2.0]) * 100
    gt = random_boxes(int(torch.randint(0, 6, (1,), generator=gen)), gen)
    got = assign_anchors(gt, anchors, 0.3).tolist()
    assert got == brute_force_assign(gt, anchors, 0.3)
    if len(gt):
        assert set(range(len(gt))) <= set(got)  # every ground truth box has an anchor


def test_assignment_more_gt_than_anchors_and_book_example() -> None:
    anchors = torch.tensor([[0.0, 0, 1, 1], [2, 2, 3, 3]])
    gt = random_boxes(4, torch.Generator().manual_seed(3), scale=3)
    got = assign_anchors(gt, anchors).tolist()
    assert got == brute_force_assign(gt, anchors, 0.5)
    # the book's dog/cat example (13.4.3): anchors 0..4, truth 0 = dog, 1 = cat
    gt = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.55, 0.2, 0.9, 0.88]])
    anchors = torch.tensor(
        [
            [0, 0.1, 0.2, 0.3],
            [0.15, 0.2, 0.4, 0.4],
            [0.63, 0.05, 0.88, 0.98],
            [0.66, 0.45, 0.8, 0.8],
            [0.57, 0.3, 0.92, 0.9],
        ]
    )
    assert assign_anchors(gt, anchors).tolist() == [-1, 0, 1, -1, 1]


def test_offsets_round_trip_and_constants() -> None:
    gen = torch.Generator().manual_seed(4)
    a, b = random_boxes(30, gen), random_boxes(30, gen)
    torch.testing.assert_close(decode_offsets(a, encode_offsets(a, b, eps=0.0)), b)
    off = encode_offsets(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 0, 3, 4]]))
    # centre moves by (1, 1) on a 2 x 2 anchor: 0.5 / 0.1 = 5; sizes 2/2 and 4/2: log / 0.2
    torch.testing.assert_close(
        off, torch.tensor([[5.0, 5.0, math.log(1 + 1e-6) / 0.2, math.log(2 + 1e-6) / 0.2]])
    )


def test_multibox_target_book_example_and_empty_image() -> None:
    gt = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
    anchors = torch.tensor(
        [
            [0, 0.1, 0.2, 0.3],
            [0.15, 0.2, 0.4, 0.4],
            [0.63, 0.05, 0.88, 0.98],
            [0.66, 0.45, 0.8, 0.8],
            [0.57, 0.3, 0.92, 0.9],
        ]
    )
    off, mask, cls = multibox_target(anchors[None], [gt, torch.zeros(0, 5)])
    assert cls.tolist() == [[0, 1, 2, 0, 2], [0, 0, 0, 0, 0]]
    assert mask[0].tolist() == [0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4
    assert (mask[1] == 0).all() and (off[1] == 0).all()
    expected = encode_offsets(anchors[1], gt[0, 1:])
    torch.testing.assert_close(off[0, 4:8], expected)
    # book's printed value for anchor 1: [1.4e+00, 1.0e+01, 2.59, 7.18]
    torch.testing.assert_close(
        off[0, 4:8], torch.tensor([1.4, 10.0, 2.59, 7.18]), atol=0.01, rtol=0
    )
    # a padded tensor (class -1 rows) gives the same targets
    padded = torch.stack((gt, torch.full((2, 5), -1.0)))
    for x, y in zip(multibox_target(anchors, padded), (off, mask, cls), strict=True):
        assert torch.equal(x, y)
    with pytest.raises(UserError, match=r"\[n, 5\]"):
        multibox_target(anchors, [torch.zeros(3, 4)])


def test_multibox_detection_book_example() -> None:
    anchors = torch.tensor(
        [
            [0.1, 0.08, 0.52, 0.92],
            [0.08, 0.2, 0.56, 0.95],
            [0.15, 0.3, 0.62, 0.91],
            [0.55, 0.2, 0.9, 0.88],
        ]
    )
    offsets = torch.zeros(1, 16)
    probs = torch.tensor([[[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]]])
    out = multibox_detection(probs, offsets, anchors, nms_threshold=0.5)
    # the book prints: kept 0 (dog .9), 3 (cat .9); suppressed rows become class -1
    assert out.shape == (1, 4, 6)
    assert out[0, :, 0].tolist() == [0, 1, -1, -1]
    torch.testing.assert_close(out[0, :2, 1], torch.tensor([0.9, 0.9]))
    torch.testing.assert_close(out[0, 0, 2:], anchors[0])
    torch.testing.assert_close(out[0, 1, 2:], anchors[3])
    with pytest.raises(UserError, match="offsets must be"):
        multibox_detection(probs, torch.zeros(1, 12), anchors)
    with pytest.raises(UserError, match="nms_impl"):
        multibox_detection(probs, offsets, anchors, nms_impl="fast")


def test_multibox_detection_torchvision_nms_gives_the_same_rows() -> None:
    gen = torch.Generator().manual_seed(9)
    anchors = multibox_prior((8, 8), [0.3, 0.15], [1.0, 2.0, 0.5])
    probs = torch.softmax(torch.randn(3, 4, len(anchors), generator=gen), dim=1)
    offsets = torch.randn(3, len(anchors) * 4, generator=gen) * 0.5
    ours = multibox_detection(probs, offsets, anchors, 0.4)
    assert torch.equal(
        ours, multibox_detection(probs, offsets, anchors, 0.4, nms_impl="torchvision")
    )
    assert (ours[..., 0] >= 0).sum() > 10  # some boxes survive, some are suppressed
    assert (ours[..., 0] == -1).sum() > 10


def plain_nms(boxes: torch.Tensor, scores: torch.Tensor, t: float) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i].item(), i))
    keep: list[int] = []
    for i in order:
        if all(box_iou(boxes[k : k + 1], boxes[i : i + 1]).item() <= t for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("n,t", [(0, 0.5), (1, 0.5), (60, 0.3), (300, 0.5), (2500, 0.7)])
def test_nms_equals_torchvision(n: int, t: float) -> None:
    gen = torch.Generator().manual_seed(n)
    boxes = random_boxes(n, gen)
    scores = torch.rand(n, generator=gen)
    ours = nms(boxes, scores, t, block=256)
    assert torch.equal(ours, ops.nms(boxes, scores, t))
    if n <= 60:
        assert ours.tolist() == plain_nms(boxes, scores, t)


def test_nms_ties_and_threshold_edge() -> None:
    gen = torch.Generator().manual_seed(7)
    boxes = random_boxes(200, gen, scale=30)
    scores = torch.randint(0, 4, (200,), generator=gen).float()  # many equal scores
    for t in (0.0, 0.3, 0.6):
        ours = nms(boxes, scores, t, block=64)
        assert torch.equal(ours, ops.nms(boxes, scores, t)), t
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    assert (
        nms(same, torch.ones(3), 0.5).tolist() == [0] == ops.nms(same, torch.ones(3), 0.5).tolist()
    )
    half = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5]])  # IoU exactly 0.5 survives
    assert nms(half, torch.ones(2), 0.5).tolist() == [0, 1]
    assert nms(half, torch.ones(2), 0.49).tolist() == [0]


def test_batched_nms_equals_torchvision() -> None:
    gen = torch.Generator().manual_seed(8)
    for n in (0, 50, 900, 1500):  # torchvision switches algorithms above 4000 numbers
        boxes = random_boxes(n, gen, scale=50)
        scores = torch.randint(0, 20, (n,), generator=gen).float() / 20
        idxs = torch.randint(0, 5, (n,), generator=gen)
        ours, twin = (
            batched_nms(boxes, scores, idxs, 0.4),
            ops.batched_nms(boxes, scores, idxs, 0.4),
        )
        if 4 * n <= 4000:  # torchvision's offset trick: same indices, same order
            assert torch.equal(ours, twin), n
        else:  # its per-class path re-sorts with an unstable sort: same set, ties unordered
            assert sorted(ours.tolist()) == sorted(twin.tolist())
            assert torch.equal(scores[ours], scores[twin])
        assert (scores[ours].diff() <= 0).all() and all(
            ours[i] < ours[i + 1]
            for i in range(len(ours) - 1)
            if scores[ours[i]] == scores[ours[i + 1]]
        )


def test_nms_bad_shapes() -> None:
    with pytest.raises(UserError, match=r"scores must be \[3\]"):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)


def test_draw_boxes_writes_png_and_pdf(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from scratchdl.plots.boxes import draw_boxes

    kept: list = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    image = torch.rand(3, 40, 60)
    anchors = multibox_prior((2, 3), [0.5, 0.25], [1.0, 2.0])  # normalized, 6 pixels x 3
    paths = draw_boxes(image, anchors[:3], tmp_path / "anchors", labels=["a", "b", "c"],
                       normalized=True)  # fmt: skip
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    ax = kept[0].axes[0]
    rects = [p for p in ax.patches if isinstance(p, plt.Rectangle)]
    assert len(rects) == 3 and [t.get_text() for t in ax.texts] == ["a", "b", "c"]
    x1, y1, x2, y2 = anchors[0].tolist()  # normalized -> pixels of the 60 x 40 image
    assert rects[0].get_xy() == pytest.approx((x1 * 60, y1 * 40))
    assert rects[0].get_width() == pytest.approx((x2 - x1) * 60)
    with pytest.raises(UserError, match="2 labels for 3 boxes"):
        draw_boxes(image, anchors[:3], tmp_path / "x", labels=["a", "b"])


def test_docs_detection_example_runs(capsys: pytest.CaptureFixture) -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs/chapters/detection.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    (block,) = [b for b in blocks if "scratchdl.ops" in b]
    exec(compile(block, "detection.md", "exec"), {})  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    positives = re.match(r"\[([\d, ]+)\] torch.Size\(\[2, 80, 6\]\)", out)
    assert positives, out  # the dog has anchors of its own (at least one positive)
