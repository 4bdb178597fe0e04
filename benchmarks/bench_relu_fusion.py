"""lenet-fmnist with the ReLU fused into its compiled max pooling, against a separate ReLU.

Both models are the recipe's (same data, optimizer, bf16, channels-last) in one process; the
unfused one swaps each `MaxPool2x2(relu=True)` for `MaxPool2x2()` followed by `nn.ReLU()`.
Training epochs of `--batches` batches alternate, and the medians are compared (only the
ratio within one run counts on a shared machine).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_relu_fusion.py [--batches 200]
        [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics

from torch import nn

from profile_recipe import engine_for, speed
from scratchdl.nn import MaxPool2x2


def unfuse(model: nn.Sequential) -> int:
    """Replace each (Identity, MaxPool2x2(relu=True)) pair by (MaxPool2x2(), ReLU())."""
    swapped = 0
    for i, layer in enumerate(list(model)):
        if isinstance(layer, MaxPool2x2) and layer.relu:
            model[i - 1], model[i] = MaxPool2x2(), nn.ReLU()
            swapped += 1
    return swapped


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    fused = engine_for("lenet-fmnist", [], args.batches)
    separate = engine_for("lenet-fmnist", [], args.batches)
    if unfuse(separate.task.module("model")) != 2:
        raise SystemExit("expected two fused poolings in lenet-fmnist's model")
    speed(separate)  # warm-up: the unfused loops compile here
    a, b = [], []
    for _ in range(args.repeats):
        a.append(speed(separate))
        b.append(speed(fused))
    wins = sum(f > s for f, s in zip(b, a, strict=True))
    print(f"separate ReLU: {statistics.median(a):,.0f} examples/s {[round(v) for v in a]}")
    print(f"fused ReLU:    {statistics.median(b):,.0f} examples/s {[round(v) for v in b]}")
    print(f"ratio fused / separate: {statistics.median(b) / statistics.median(a):.3f}x, "
          f"fused faster in {wins} of {args.repeats} pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
