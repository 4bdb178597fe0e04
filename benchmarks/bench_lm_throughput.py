"""Training throughput of the character language-model recipes, in tokens/s: gpt-austen (a
4 x 128 GPT, ~0.81M parameters) vs the LSTM recipes (lstm-deep-austen has ~0.83M).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lm_throughput.py
        [--recipes gpt-austen lstm-deep-austen lstm-austen] [--iters 20] [--same-batch]
        [--device cpu]

Each recipe's model is built from its resolved config (vocabulary of 28 characters, as the
Austen recipes' a-z and space plus <unk>) and timed on one training step as the engine takes
it: forward, cross-entropy, backward, gradient clipping, optimizer step, at the recipe's own
batch shape (gpt-austen 32 x 128 tokens, the LSTMs 8 x 64 with the state carried and
detached) or, with --same-batch, at the GPT's shape for all. Steps of all recipes run
interleaved so machine noise hits all alike; the median step time is reported. Ratio =
tokens/s of the recipe / tokens/s of the first recipe. Random tokens: speed, not learning.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from scratchdl.models import build_model
from scratchdl.recipes import load_recipe
from scratchdl.train.optim import build_optimizer

VOCAB = 28


def make_step(recipe: str, same_batch: tuple[int, int] | None, device: str):
    """(step(), tokens per step, parameters) of one recipe's training step."""
    cfg = load_recipe(recipe)
    options = {k: v for k, v in cfg["model"].items() if k != "name"}
    model = build_model(cfg["model"]["name"], vocab_size=VOCAB, **options).to(device).train()
    opt = build_optimizer(model, cfg["optimizer"])
    B, T = same_batch or (cfg["data"]["batch_size"], cfg["data"]["num_steps"])
    X = torch.randint(0, VOCAB, (B, T), device=device)
    Y = torch.randint(0, VOCAB, (B, T), device=device)
    clip = float(cfg["train"]["grad_clip"])
    recurrent = cfg["task"] == "rnn-lm"
    state = {"h": None}

    def step() -> None:
        if recurrent:
            logits, h = model(X, state["h"])
            state["h"] = tuple(s.detach() for s in h) if isinstance(h, tuple) else h.detach()
        else:
            logits, _ = model(X)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), Y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    return step, B * T, sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipes", nargs="+", default=["gpt-austen", "lstm-deep-austen",
                                                     "lstm-austen"])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--same-batch", action="store_true", help="time all at the GPT's 32 x 128")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    same = (32, 128) if args.same_batch else None
    steps = {r: make_step(r, same, args.device) for r in args.recipes}
    times: dict[str, list[float]] = {r: [] for r in args.recipes}
    for i in range(args.warmup + args.iters):
        for r, (step, _, _) in steps.items():
            start = time.perf_counter()
            step()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[r].append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.device}, "
          f"median of {args.iters} steps")
    print(f"{'recipe':<18} {'params':>9} {'tokens/step':>11} {'ms/step':>8} {'tokens/s':>9} "
          f"{'ratio':>6}")
    base = None
    for r, (_, tokens, params) in steps.items():
        ms = statistics.median(times[r]) * 1e3
        rate = tokens / ms * 1e3
        base = base or rate
        print(f"{r:<18} {params:>9,} {tokens:>11} {ms:>8.1f} {rate:>9,.0f} {rate / base:>6.2f}")


if __name__ == "__main__":
    main()
