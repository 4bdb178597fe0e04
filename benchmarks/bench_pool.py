"""2x2 max pooling, forward + backward: scratchdl.nn.MaxPool2x2's compiled loops vs ATen's
F.max_pool2d, at LeNet's two pooling layers (batch 256, channels-last), fp32 and bf16.
(MaxPool2x2 itself takes ATen's kernel for the second: channels-last with 16 channels.)

Both run in one process, alternately, and the median of `--repeats` timings of `--calls`
calls each is compared (the machine is shared: only the ratio within one run counts).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_pool.py [--repeats 5] [--calls 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from scratchdl.nn.max_pool import compiled_max_pool2x2

SHAPES = {
    "LeNet pool 1 (256x6x28x28)": (256, 6, 28, 28),
    "LeNet pool 2 (256x16x10x10)": (256, 16, 10, 10),
}


def step(pool: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor) -> None:
    torch.autograd.grad(pool(x), x, g)


def per_call_ms(fn: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--calls", type=int, default=50)
    args = p.parse_args()
    print(f"threads {torch.get_num_threads()}, forward + backward, ms per call (median of "
          f"{args.repeats})")  # fmt: skip
    print(f"{'layer':30s} {'dtype':9s} {'ATen':>8s} {'ours':>8s} {'speed-up':>9s}")
    for name, shape in SHAPES.items():
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(*shape, dtype=dtype).contiguous(memory_format=torch.channels_last)
            x.requires_grad_()
            g = torch.randn_like(F.max_pool2d(x.detach(), 2, 2))
            contenders = {
                "aten": lambda x=x, g=g: step(lambda t: F.max_pool2d(t, 2, 2), x, g),
                "ours": lambda x=x, g=g: step(compiled_max_pool2x2, x, g),
            }
            for fn in contenders.values():  # warm-up (and compilation)
                fn()
                fn()
            times: dict[str, list[float]] = {k: [] for k in contenders}
            for _ in range(args.repeats):
                for k, fn in contenders.items():
                    times[k].append(per_call_ms(fn, args.calls))
            aten, ours = (statistics.median(times[k]) for k in ("aten", "ours"))
            dt = str(dtype).removeprefix("torch.")
            print(f"{name:30s} {dt:9s} {aten:8.3f} {ours:8.3f} {aten / ours:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
