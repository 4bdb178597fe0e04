"""Benchmark: from-scratch no-loop kNN distances and knn_predict against torch.cdist.

Run: .venv/bin/python benchmarks/bench_knn.py [--queries 5000 --train 20000 --l1-queries 500]
Prints the best-of-N wall time of each and the ratio ours / torch (below 1 means ours is faster).
If Fashion-MNIST is present (/usr/share/datasets/fashion-mnist), also times the memory-bounded
knn_predict on a test subset against all 60k training images, beside cdist + topk.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch

from scratchdl.scratch import distances, knn

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, threads)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)  # best of N: the least disturbed run on a shared machine


def report(name: str, ours: float, twin: float) -> None:
    print(
        f"{name:<44} ours {ours * 1e3:9.1f} ms   torch {twin * 1e3:9.1f} ms   "
        f"ratio {ours / twin:5.2f}x"
    )


def load_fmnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    raw = gzip.open(FMNIST / f"{prefix}-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)
    labels = np.frombuffer(
        gzip.open(FMNIST / f"{prefix}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8
    )
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(
        labels.astype(np.int64)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--l1-queries", type=int, default=500, help="L1 is O(NMD) adds; keep small")
    parser.add_argument("--fmnist-queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.queries, args.dim, generator=g).to(dev)
    train = torch.rand(args.train, args.dim, generator=g).to(dev)
    shape = f"{args.queries}x{args.dim} vs {args.train}x{args.dim}"
    ours = timed(lambda: distances.l2_distances_no_loop(x, train), args.repeats)
    twin = timed(lambda: torch.cdist(x, train, p=2), args.repeats)
    report(f"L2 no-loop {shape}", ours, twin)

    xq = x[: args.l1_queries]
    shape = f"{xq.shape[0]}x{args.dim} vs {args.train}x{args.dim}"
    ours = timed(lambda: distances.l1_distances_no_loop(xq, train), args.repeats)
    twin = timed(lambda: torch.cdist(xq, train, p=1), args.repeats)
    report(f"L1 no-loop {shape}", ours, twin)

    if not (FMNIST / "train-images-idx3-ubyte.gz").exists():
        print(f"Fashion-MNIST not found under {FMNIST}: skipping knn_predict timing")
        return
    x_train, y_train = load_fmnist("train")
    x_test, y_test = load_fmnist("test")
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    x_test, y_test = x_test[: args.fmnist_queries].to(dev), y_test[: args.fmnist_queries].to(dev)

    def twin_predict():  # full (n, 60000) matrix, then topk and our vote
        idx = torch.cdist(x_test, x_train).topk(args.k, dim=1, largest=False).indices
        return knn.majority_vote(y_train[idx], 10)

    pred = knn.knn_predict(x_test, x_train, y_train, k=args.k)
    accuracy = (pred == y_test).float().mean().item()
    assert torch.equal(pred, twin_predict()), "knn_predict disagrees with cdist + topk"
    ours = timed(lambda: knn.knn_predict(x_test, x_train, y_train, k=args.k), args.repeats)
    twin = timed(twin_predict, args.repeats)
    report(f"knn_predict k={args.k} FMNIST {x_test.shape[0]} vs 60000", ours, twin)
    per_10k = ours * 10000 / x_test.shape[0]
    print(
        f"  accuracy on these {x_test.shape[0]} test images: {accuracy:.4f}; "
        f"extrapolated full 10k test set: {per_10k:.1f} s"
    )


if __name__ == "__main__":
    main()
