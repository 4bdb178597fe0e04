"""Benchmark: detection hot paths against their twins, one run, ratios.

Run: .venv/bin/python benchmarks/bench_detection.py [--device cpu] [--repeats 3]
- NMS (ours, blocked and vectorized) vs torchvision.ops.nms on 1k, 10k, 50k boxes, in two
  layouts: "clustered" (boxes jittered around 200 objects, as a detector's raw output: most
  are suppressed) and "scattered" (uniform random boxes: most survive, the worst case: both
  do O(N x kept) IoU pairs; 1k and 10k by default, `--scattered-sizes 50000` takes minutes);
- multibox_target (ours: vectorized over anchors, greedy loop over objects) vs the book's
  rule written per anchor (the reference below), TinySSD's 5444 anchors;
- RoI align (ours: one matrix product per region) vs torchvision.ops.roi_align, forward and
  forward + backward.
Each line: best-of-N wall time and ours / twin (below 1 means ours is faster). Every pair is
checked to agree before it is timed.
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision import ops

from scratchdl.ops import (
    box_iou,
    encode_offsets,
    multibox_prior,
    multibox_target,
    nms,
    roi_align,
)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, ours: float, twin: float, twin_name: str = "twin") -> None:
    print(f"{name:<46} ours {ours * 1e3:9.2f} ms   {twin_name} {twin * 1e3:10.2f} ms   "
          f"ratio {ours / twin:.3g}x")  # fmt: skip


def boxes_for(n: int, layout: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if layout == "clustered":
        xy = torch.rand(200, 2, generator=gen) * 900
        objects = torch.cat((xy, xy + 20 + torch.rand(200, 2, generator=gen) * 80), 1)
        boxes = objects[torch.randint(0, 200, (n,), generator=gen)]
        boxes = boxes + torch.randn(n, 4, generator=gen) * 6
    else:
        xy = torch.rand(n, 2, generator=gen) * 1000
        boxes = torch.cat((xy, xy + 5 + torch.rand(n, 2, generator=gen) * 40), 1)
    boxes = torch.cat((boxes[:, :2].minimum(boxes[:, 2:]), boxes[:, :2].maximum(boxes[:, 2:])), 1)
    return boxes, torch.rand(n, generator=gen)


def book_loop_target(anchors: torch.Tensor, labels: list[torch.Tensor]):
    """The book's assignment and target rules, one anchor at a time (the reference)."""
    offsets, masks, classes = [], [], []
    for lab in labels:
        n_a, n_g = anchors.shape[0], lab.shape[0]
        iou = torch.zeros(n_a, n_g)
        for a in range(n_a):  # IoU row by row
            iou[a] = box_iou(anchors[a : a + 1], lab[:, 1:])[0]
        assigned = [-1] * n_a
        for a in range(n_a):  # threshold on each anchor's best object
            best = int(iou[a].argmax())
            if iou[a, best] >= 0.5:
                assigned[a] = best
        work = iou.clone()
        for _ in range(n_g):  # greedy
            a, g = divmod(int(work.argmax()), n_g)
            assigned[a] = g
            work[:, g] = -1
            work[a, :] = -1
        off, mask, cls = (
            torch.zeros(n_a, 4),
            torch.zeros(n_a, 4),
            torch.zeros(n_a, dtype=torch.long),
        )
        for a in range(n_a):  # targets anchor by anchor
            if assigned[a] >= 0:
                g = assigned[a]
                cls[a] = int(lab[g, 0]) + 1
                off[a] = encode_offsets(anchors[a], lab[g, 1:])
                mask[a] = 1.0
        offsets.append(off.reshape(-1))
        masks.append(mask.reshape(-1))
        classes.append(cls)
    return torch.stack(offsets), torch.stack(masks), torch.stack(classes)


def tinyssd_anchors() -> torch.Tensor:
    sizes = [[0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]]
    maps = [(32, 32), (16, 16), (8, 8), (4, 4), (1, 1)]
    return torch.cat([multibox_prior(m, s, [1, 2, 0.5]) for m, s in zip(maps, sizes, strict=True)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,50000", help="clustered NMS box counts")
    parser.add_argument(
        "--scattered-sizes", default="1000,10000", help="scattered NMS box counts (50k: minutes)"
    )
    parser.add_argument("--target-batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    gen = torch.Generator().manual_seed(0)

    for layout, sizes in (("clustered", args.sizes), ("scattered", args.scattered_sizes)):
        for n in (int(s) for s in sizes.split(",") if s):
            boxes, scores = (t.to(dev) for t in boxes_for(n, layout, gen))
            keep = nms(boxes, scores, 0.5)
            assert torch.equal(keep, ops.nms(boxes, scores, 0.5)), "nms disagrees"
            ours = timed(lambda: nms(boxes, scores, 0.5), args.repeats)  # noqa: B023
            twin = timed(lambda: ops.nms(boxes, scores, 0.5), args.repeats)  # noqa: B023
            report(f"nms {layout} {n} boxes ({len(keep)} kept)", ours, twin, "torchvision")

    anchors = tinyssd_anchors()
    labels = []
    for _ in range(args.target_batch):
        k = int(torch.randint(1, 4, (1,), generator=gen))
        xy = torch.rand(k, 2, generator=gen) * 0.7
        box = torch.cat((xy, xy + 0.1 + torch.rand(k, 2, generator=gen) * 0.2), 1)
        labels.append(torch.cat((torch.zeros(k, 1), box), 1))
    ours_t, ref_t = multibox_target(anchors, labels), book_loop_target(anchors, labels)
    for x, y in zip(ours_t, ref_t, strict=True):
        torch.testing.assert_close(x, y)
    ours = timed(lambda: multibox_target(anchors, labels), args.repeats)
    loop = timed(lambda: book_loop_target(anchors, labels), 1)
    report(f"multibox_target {len(anchors)} anchors x {args.target_batch} images", ours, loop,
           "per-anchor loop")  # fmt: skip

    feats = torch.randn(2, 256, 50, 50, generator=gen).to(dev)
    xy = torch.rand(256, 2, generator=gen) * 700
    rois = torch.cat((torch.randint(0, 2, (256, 1), generator=gen).float(), xy,
                      xy + 16 + torch.rand(256, 2, generator=gen) * 200), 1).to(dev)  # fmt: skip
    args_ra = (7, 1 / 16, 2, True)
    torch.testing.assert_close(
        roi_align(feats, rois, *args_ra), ops.roi_align(feats, rois, *args_ra)
    )
    ours = timed(lambda: roi_align(feats, rois, *args_ra), args.repeats)
    twin = timed(lambda: ops.roi_align(feats, rois, *args_ra), args.repeats)
    report("roi_align 256 rois, 256x50x50, 7x7, forward", ours, twin, "torchvision")
    leaf = feats.clone().requires_grad_(True)

    def both(fn):
        return lambda: fn(leaf, rois, *args_ra).sum().backward()

    ours = timed(both(roi_align), args.repeats)
    twin = timed(both(ops.roi_align), args.repeats)
    report("roi_align 256 rois, forward + backward", ours, twin, "torchvision")


if __name__ == "__main__":
    main()
