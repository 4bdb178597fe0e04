"""Speed and memory of scratchdl's attention vs torch, and what a KV cache buys in decoding.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_attention.py [--seqs 64 256 1024]
        [--batch 2] [--embed 256] [--heads 8] [--repeats 5] [--decode 256 1024] [--device cpu]

1. Multi-head self-attention, one forward + backward of a [batch, seq, embed] input:
   - ours: scratchdl.nn.MultiHeadAttention, the readable path (weights [B, H, T, T] in memory);
   - ours+sdpa: the same module with use_sdpa=True (projections ours, core F.scaled_dot_product_
     attention: flash / memory-efficient kernels on GPU);
   - torch: nn.MultiheadAttention with the same weights (need_weights=False, its fast path).
   The three run interleaved, repeat by repeat, so machine noise hits all alike; medians.
   Ratio = time / torch's time (1.0 = as fast as torch).
   Peak memory of one pass at each length: CUDA max_memory_allocated on GPU; on CPU the growth
   of the peak resident set (VmHWM, reset through /proc/self/clear_refs after a warm-up
   pass) of a fresh child process during one pass.
2. Decoding with a pre-norm decoder-only stack (scratchdl.nn.TransformerEncoder, causal,
   2 layers, d=128, 4 heads, batch 1): tokens/s while the context grows from N-32 to N,
   with the KV cache (one new position per step) vs recomputing the whole prefix each step;
   tokens/s = 1 / the median time of a step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from scratchdl.nn import MultiHeadAttention, TransformerEncoder

WINDOW = 32  # decoding steps timed per context length


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build(embed: int, heads: int, device: torch.device) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    twin = nn.MultiheadAttention(embed, heads, batch_first=True).to(device)
    ours = MultiHeadAttention(embed, heads).to(device).load_from_torch(twin)
    fused = MultiHeadAttention(embed, heads, use_sdpa=True).to(device).load_from_torch(twin)
    return {"ours": ours, "ours+sdpa": fused, "torch": twin}


def one_pass(module: nn.Module, x: torch.Tensor) -> None:
    out = module(x, x, x, need_weights=False)[0]
    out.sum().backward()


def time_mha(args: argparse.Namespace, device: torch.device) -> list[dict]:
    rows = []
    for seq in args.seqs:
        mods = build(args.embed, args.heads, device)
        x = torch.randn(args.batch, seq, args.embed, device=device, requires_grad=True)
        times: dict[str, list[float]] = {k: [] for k in mods}
        for r in range(args.repeats + 1):
            for name, m in mods.items():
                sync(device)
                t0 = time.perf_counter()
                one_pass(m, x)
                sync(device)
                if r:  # the first round warms up
                    times[name].append(time.perf_counter() - t0)
        med = {k: min(v) for k, v in times.items()}
        row = {"seq": seq, **{f"{k}_ms": round(1e3 * v, 2) for k, v in med.items()},
               "ours/torch": round(med["ours"] / med["torch"], 2),
               "ours+sdpa/torch": round(med["ours+sdpa"] / med["torch"], 2)}
        for name in ("ours", "ours+sdpa", "torch"):
            row[f"{name}_peak_MiB"] = peak_memory(args, device, name, seq)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def peak_memory(args: argparse.Namespace, device: torch.device, name: str, seq: int) -> float:
    """MiB a single forward + backward adds to the peak (see the module docstring)."""
    if device.type == "cuda":
        mods = build(args.embed, args.heads, device)
        x = torch.randn(args.batch, seq, args.embed, device=device, requires_grad=True)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        one_pass(mods[name], x)
        torch.cuda.synchronize()
        return round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)
    cmd = [sys.executable, __file__, "--child", name, "--seqs", str(seq), "--batch",
           str(args.batch), "--embed", str(args.embed), "--heads", str(args.heads)]
    # a fixed mmap threshold: every large tensor is mmapped and handed back when freed, so
    # the resident set follows what is live (glibc otherwise keeps freed chunks)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return float(out)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def child(args: argparse.Namespace) -> None:
    """Run in a fresh process: print the growth of peak RSS (MiB) during one pass."""
    mods = build(args.embed, args.heads, torch.device("cpu"))
    one_pass(mods[args.child], torch.randn(1, 8, args.embed, requires_grad=True))  # lazy init
    x = torch.randn(args.batch, args.seqs[0], args.embed, requires_grad=True)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident set
    before = _status_kib("VmRSS")
    one_pass(mods[args.child], x)
    print(round((_status_kib("VmHWM") - before) / 1024, 1))


@torch.no_grad()
def time_decoding(args: argparse.Namespace, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    d = 128
    gpt = TransformerEncoder(2, d, 4, 4 * d, activation="gelu", norm_first=True).to(device).eval()
    rows = []
    for n in args.decode:
        x = torch.randn(1, n, d, device=device)
        start = n - WINDOW
        cache = gpt.new_cache()
        gpt(x[:, :start], is_causal=True, cache=cache)  # prefill the context once
        steps: dict[str, list[float]] = {"cache": [], "recompute": []}
        for t in range(start, n):
            for kind in steps:
                sync(device)
                t0 = time.perf_counter()
                if kind == "cache":
                    gpt(x[:, t:t + 1], is_causal=True, cache=cache)
                else:
                    gpt(x[:, :t + 1], is_causal=True)[:, -1]
                sync(device)
                steps[kind].append(time.perf_counter() - t0)
        cached = 1 / statistics.median(steps["cache"])
        recompute = 1 / statistics.median(steps["recompute"])
        row = {"context": n, "kv_cache_tok_s": round(cached, 1),
               "recompute_tok_s": round(recompute, 1), "speedup": round(cached / recompute, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seqs", type=int, nargs="+", default=[64, 256, 1024])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--decode", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--device", default="cpu")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    device = torch.device(args.device)
    print(f"# torch {torch.__version__}, {device}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, embed {args.embed}, heads {args.heads}")
    time_mha(args, device)
    time_decoding(args, device)


if __name__ == "__main__":
    main()
