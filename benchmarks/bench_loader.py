"""Epoch throughput: TensorLoader vs torch DataLoader(TensorDataset) with default settings.

Both shuffle, batch 256, over Fashion-MNIST's training images (random tensors of the same
shape if the data is absent). Prints examples/s of each (best of a few alternating epochs)
and the ratio.

    .venv/bin/python benchmarks/bench_loader.py [--epochs 5] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from scratchdl.data import TensorLoader, load_splits
from scratchdl.errors import UserError


def epoch_seconds(batches) -> float:
    start = time.perf_counter()
    for _batch in batches:
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    try:
        train = load_splits("fashion-mnist", val_size=0).train
        x, y, what = train.x, train.y, "Fashion-MNIST train"
    except UserError as e:
        print(f"(Fashion-MNIST absent: {e}; using random tensors)")
        x, y, what = torch.rand(60000, 1, 28, 28), torch.randint(0, 10, (60000,)), "random"
    n = len(x)
    print(f"data: {what}, x {tuple(x.shape)} {x.dtype}; batch {args.batch_size}, shuffle; "
          f"best of {args.epochs} epochs; torch threads {torch.get_num_threads()}")

    ours = TensorLoader(x, y, batch_size=args.batch_size, shuffle=True)
    twin = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)
    # Alternate the two, epoch by epoch, so a busy machine slows both alike; keep the best.
    best_ours = best_twin = float("inf")
    for epoch in range(args.epochs):
        ours.set_epoch(epoch)
        best_ours = min(best_ours, epoch_seconds(ours))
        best_twin = min(best_twin, epoch_seconds(twin))
    rate_ours, rate_twin = n / best_ours, n / best_twin
    print(f"TensorLoader:              {rate_ours:14,.0f} examples/s")
    print(f"DataLoader(TensorDataset): {rate_twin:14,.0f} examples/s")
    print(f"ratio (TensorLoader / DataLoader): {rate_ours / rate_twin:.1f}x")

if __name__ == "__main__":
    main()
