"""Data-parallel scaling: one recipe trained with 1 and with N processes, same global batch.

    python benchmarks/bench_ddp.py                       # lenet-fmnist, 1 vs 2 processes
    python benchmarks/bench_ddp.py --recipe mlp-fmnist --nproc 2 --epochs 1

Both runs are measured in this one invocation, one after the other, and compared by the
engine's training throughput (`examples_per_s`: examples of all processes per second of
training, without start-up and evaluation). The N-process run uses per-process batch
global / N, so both take the same optimizer steps. On CPU each process gets
cores / N torch threads, so the ratio shows what splitting the machine's cores between
processes costs or gains against one process using them all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile


def train(recipe: str, nproc: int, batch: int, epochs: int, threads: int, out: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "scratchdl", "run", recipe, "--epochs", str(epochs),
           "--set", f"data.batch_size={batch}", "--nproc", str(nproc), "--out", out,
           "--json", "--quiet"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="lenet-fmnist")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch", type=int, default=256, help="global batch size")
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SCRATCHDL_RUNS"] = tmp
        one = train(args.recipe, 1, args.batch, args.epochs, cores, f"{tmp}/one")
        many = train(args.recipe, args.nproc, args.batch // args.nproc, args.epochs,
                     max(1, cores // args.nproc), f"{tmp}/many")  # fmt: skip
    r1, rn = one["examples_per_s"], many["examples_per_s"]
    print(f"{args.recipe}, global batch {args.batch}, {cores} cores, {args.epochs} epoch(s)")
    print(f"1 process, {cores} threads:        {r1:10,.0f} examples/s  "
          f"{one['metric']} {one['value']:.4f}")
    print(f"{args.nproc} processes, {max(1, cores // args.nproc)} thread(s) each: {rn:10,.0f} "
          f"examples/s  {many['metric']} {many['value']:.4f}")
    print(f"scaling {args.nproc} vs 1 process: {rn / r1:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
