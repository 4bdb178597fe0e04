"""Benchmark: DDIM sampling with few steps vs ancestral DDPM sampling over every step.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_diffusion.py [--n 16 --steps 1000]
The ddpm-mnist U-Net (random weights: the cost does not depend on training) draws --n images
by DDPM over all --steps steps and by DDIM with each of --ddim step counts. Prints seconds
and images/s of each (best of --repeats) and the speed-up over DDPM, which is close to
steps / K: each step is one U-Net pass (two with classifier-free guidance, --guidance != 1).
Whether the few-step samples are as good is measured by the recipe (test_fd_ddim50_ratio).
"""

from __future__ import annotations

import argparse
import time

import torch

from scratchdl.models.generative.ddpm import DDPM


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--ddim", type=int, nargs="+", default=[50, 20])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    m = DDPM(args.steps, channels=args.channels, conditional=True, guidance=args.guidance)
    m = m.to(args.device).eval()

    def draw(sampler: str, k: int | None):
        g = torch.Generator(args.device).manual_seed(0)
        return lambda: m.sample(args.n, None, g, sampler=sampler, sample_steps=k)

    t_ddpm = best_time(draw("ddpm", None), args.repeats)
    print(f"ddpm U-Net {args.channels}ch, n={args.n}, guidance {args.guidance}, {args.device}")
    print(f"DDPM {args.steps:5d} steps: {t_ddpm:8.2f} s  {args.n / t_ddpm:8.2f} images/s")
    for k in args.ddim:
        t = best_time(draw("ddim", k), args.repeats)
        print(f"DDIM {k:5d} steps: {t:8.2f} s  {args.n / t:8.2f} images/s  {t_ddpm / t:6.1f}x")


if __name__ == "__main__":
    main()
