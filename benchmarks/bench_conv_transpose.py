"""Our transposed convolution (hand-written forward + backward, matmul then col2im) vs
F.conv_transpose2d (forward + autograd backward), float32, one run. Prints times and ratio.

    .venv/bin/python benchmarks/bench_conv_transpose.py [--device cpu|cuda] [--repeats 5]

Layers: an FCN 32x bilinear upsampler (21 classes, 7x7 -> 224x224, kernel 64) and a U-Net
decoder up-convolution (128 -> 64 channels, 2x2 kernel, stride 2, 28x28 -> 56x56).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from scratchdl.nn import conv_transpose2d

# name: (batch, cin, cout, h, w, kernel, stride, padding)
LAYERS = {
    "FCN upsampler (8x21x7x7 -> 224x224, k64 s32 p16)": (8, 21, 21, 7, 7, 64, 32, 16),
    "U-Net up-conv (16x128x28x28 -> 64x56x56, k2 s2)": (16, 128, 64, 28, 28, 2, 2, 0),
}


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of fn() in seconds after two warm-up calls."""
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(shape: tuple[int, ...], device: torch.device, repeats: int) -> tuple[float, float]:
    n, cin, cout, h, w, k, s, p = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, cin, h, w, generator=g).to(device).requires_grad_(True)
    weight = torch.randn(cin, cout, k, k, generator=g).to(device).requires_grad_(True)

    def run(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            x.grad = weight.grad = None
            fn(x, weight, None, s, p).sum().backward()

        return step

    return timed(run(conv_transpose2d), device, repeats), timed(
        run(F.conv_transpose2d), device, repeats
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, median of {args.repeats}")
    for name, shape in LAYERS.items():
        ours, ref = bench(shape, device, args.repeats)
        print(f"{name}: ours {ours * 1e3:.1f} ms, F.conv_transpose2d {ref * 1e3:.1f} ms, "
              f"ratio {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
