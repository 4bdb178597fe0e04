"""im2col convolution (forward + backward, hand-written) vs F.conv2d (forward + autograd
backward) on a LeNet-sized and a ResNet-sized layer, float32. Prints each time and the ratio.

    .venv/bin/python benchmarks/bench_conv.py [--device cpu|cuda] [--repeats 5] [--threads N]
        [--retain-memory]

im2col runs a few examples at a time in a small reused column buffer (the whole ResNet batch
would need 231 MB of columns). On machines where fresh pages are slow to fault in, big
allocations can dominate; --retain-memory tells glibc to keep freed memory for reuse (for both
contenders), to show the cost without it. The machine is shared: run it a few times.
"""

import argparse
import ctypes
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from scratchdl.scratch.layers import Conv

# name: (batch, in channels, height, width, out channels, kernel, stride, padding)
LAYERS = {
    "LeNet conv1 (256x1x28x28, 6 5x5, pad 2)": (256, 1, 28, 28, 6, 5, 1, 2),
    "ResNet conv3x3 (32x64x56x56, 64 3x3, pad 1)": (32, 64, 56, 56, 64, 3, 1, 1),
}


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of fn() in seconds, after two warm-up calls."""
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


def bench_layer(shape: tuple[int, ...], device: torch.device, repeats: int) -> dict[str, float]:
    n, c, h, w, f, k, stride, padding = shape
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=gen).to(device)
    weight = (torch.randn(f, c, k, k, generator=gen) / (c * k * k) ** 0.5).to(device)
    bias = torch.randn(f, generator=gen).to(device)
    out, _ = Conv.forward(x, weight, bias, stride, padding)
    dout = torch.randn(out.shape, generator=gen).to(device)

    def ours_forward():
        return Conv.forward(x, weight, bias, stride, padding)

    def ours_both():
        _, cache = Conv.forward(x, weight, bias, stride, padding)
        return Conv.backward(dout, cache)

    x_leaf = x.clone().requires_grad_(True)
    w_leaf, b_leaf = weight.clone().requires_grad_(True), bias.clone().requires_grad_(True)

    def twin_forward():
        with torch.no_grad():
            return F.conv2d(x, weight, bias, stride, padding)

    def twin_both():
        x_leaf.grad = w_leaf.grad = b_leaf.grad = None
        F.conv2d(x_leaf, w_leaf, b_leaf, stride, padding).backward(dout)

    # Same numbers before timing: a fast wrong answer is no result.
    dx, dw, db = ours_both()
    twin_both()
    scale = dout.abs().max().item() * x.abs().max().item()
    for ours, twin in [(dx, x_leaf.grad), (dw, w_leaf.grad), (db, b_leaf.grad)]:
        torch.testing.assert_close(ours, twin, atol=1e-3 * scale, rtol=1e-3)

    return {
        "ours_fwd": timed(ours_forward, device, repeats),
        "twin_fwd": timed(twin_forward, device, repeats),
        "ours_both": timed(ours_both, device, repeats),
        "twin_both": timed(twin_both, device, repeats),
    }


def retain_freed_memory() -> None:
    """glibc: serve every allocation from the heap and never give freed memory back."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_max = -1, -4
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 2**31 - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--retain-memory", action="store_true", help="see the docstring")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.retain_memory:
        retain_freed_memory()
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"retain memory {args.retain_memory}"
    )
    print(f"{'layer':46} {'pass':9} {'im2col ms':>10} {'F.conv2d ms':>12} {'ratio':>6}")
    for name, shape in LAYERS.items():
        t = bench_layer(shape, device, args.repeats)
        for label, ours, twin in [
            ("fwd", t["ours_fwd"], t["twin_fwd"]),
            ("fwd+bwd", t["ours_both"], t["twin_both"]),
        ]:
            print(f"{name:46} {label:9} {ours * 1e3:10.2f} {twin * 1e3:12.2f} {ours / twin:6.2f}")


if __name__ == "__main__":
    main()
