"""Run every recipe for a few steps on the GPU with AMP, and with DDP over the visible GPUs.

    python benchmarks/gpu_check.py                      # all recipes, bf16, DDP over all GPUs
    python benchmarks/gpu_check.py --amp fp16 --steps 3 --recipes lenet-fmnist lstm-austen
    python benchmarks/gpu_check.py --device cpu --recipes mlp-fmnist   # the same path on CPU

Each check is one `scratchdl run RECIPE --epochs 1 --set train.limit_batches=STEPS ...` in a
fresh process, so it exercises exactly what a user runs: the engine's device placement,
autocast (fp16 with grad scaling, or bf16), and NCCL DistributedDataParallel (`--nproc` =
the number of GPUs, for tasks that support DDP; one GPU cannot host two NCCL ranks, so with a
single GPU the DDP column reads "1 GPU"). Tasks without autograd (kNN, n-gram, the hand-written
nets) run without AMP. Prints one table row per recipe; exit code 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Settings that keep a recipe's check short (its own long phases or searches cut down).
QUICK = {
    "transfer": ["--set", "transfer.frozen_epochs=1"],
    "knn": ["--set", "knn.ks=[1]", "--set", "knn.folds=2"],
    "ngram-lm": ["--set", "ngram.orders=[3]"],
}


def run(args: list[str], timeout: float) -> tuple[str, float, str]:
    """(status, seconds, detail) of `scratchdl ARGS --json`."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "scratchdl", *args, "--json", "--quiet"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, f"> {timeout:.0f} s"
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return "FAIL", seconds, last[:90]
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    return "ok", seconds, f"{summary.get('metric')}={summary.get('value', float('nan')):.4f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="*", help="default: every bundled recipe")
    p.add_argument("--steps", type=int, default=5, help="training batches per check")
    p.add_argument("--amp", choices=["bf16", "fp16", "none"], default="bf16")
    p.add_argument("--device", default="cuda")
    p.add_argument("--nproc", type=int, help="DDP processes (default: the number of GPUs)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per check")
    args = p.parse_args()

    import torch

    from scratchdl.recipes import list_recipes, load_recipe
    from scratchdl.tasks import get_task

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible here (use --device cpu for the same path on CPU)")
        return 2
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    nproc = args.nproc if args.nproc is not None else gpus
    print(f"torch {torch.__version__}, device {args.device}, {gpus} GPU(s)", end="")
    if gpus:
        print(f" ({torch.cuda.get_device_name(0)})", end="")
    print(f", amp {args.amp}, {args.steps} steps per check\n")
    rows = []
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SCRATCHDL_RUNS"] = tmp
        for name in args.recipes or list_recipes():
            task = get_task(load_recipe(name)["task"])
            amp = args.amp if task.supports_amp else "none"
            base = ["run", name, "--epochs", "1", "--set", f"train.limit_batches={args.steps}",
                    "--set", f"train.device={args.device}", "--set", f"train.amp={amp}",
                    *QUICK.get(task.name, [])]  # fmt: skip
            single = run([*base, "--out", str(Path(tmp) / f"{name}-1")], args.timeout)
            if not task.supports_ddp:
                ddp = ("-", 0.0, "task runs in one process")
            elif nproc < 2:
                ddp = ("-", 0.0, f"{nproc} GPU: needs 2+")
            else:
                out = str(Path(tmp) / f"{name}-ddp")
                ddp = run([*base, "--nproc", str(nproc), "--out", out], args.timeout)
            failed |= "FAIL" in (single[0], ddp[0]) or "timeout" in (single[0], ddp[0])
            rows.append((name, amp, single, ddp))
            print(f"{name:24} {amp:5} {single[0]:7} {single[1]:6.1f}s {single[2]:38} "
                  f"ddp {ddp[0]:7} {ddp[2]}", flush=True)  # fmt: skip
    ok = sum(r[2][0] == "ok" for r in rows)
    ddp_ok = sum(r[3][0] == "ok" for r in rows)
    print(f"\n{ok}/{len(rows)} recipes ran on {args.device}; {ddp_ok} ran data-parallel")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
