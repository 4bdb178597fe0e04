"""Benchmark: text generation with cached recurrent state vs recomputing the whole sequence.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_generate.py [--tokens 200 --beam 4]
A small character LSTM LM (embedding -> nn.LSTM -> linear, random weights) generates
--tokens tokens after a --prefix-token prefix, greedily and by beam search, through
scratchdl.text.decoding. "cached" feeds one token per step and carries (h, c); "recompute"
reruns the LSTM over the whole history every step (recompute_step). Prints tokens/s of each
(best of --repeats) and the ratio cached / recompute (above 1: the cache is faster).
Both paths must produce the same tokens; the script checks it. On CPU, torch's oneDNN LSTM
costs about 1 ms per call at batch 1 whatever the length, which shrinks the ratio; compare
with --no-mkldnn.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from scratchdl.text.decoding import beam_search, generate, recompute_step


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers)
        self.out = nn.Linear(hidden, vocab)

    def step(self, tokens: torch.Tensor, state):
        """tokens [B] -> logits [B, V], carrying (h, c) [layers, B, hidden]."""
        output, state = self.lstm(self.embed(tokens)[None], state)
        return self.out(output[0]), state

    def step_full(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, T] -> logits [B, V] of the last position, from scratch."""
        output, _ = self.lstm(self.embed(ids).transpose(0, 1))
        return self.out(output[-1])


def best_time(fn, repeats: int) -> tuple[float, list[int]]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--prefix", type=int, default=10, help="prefix length in tokens")
    parser.add_argument("--vocab", type=int, default=28)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-mkldnn", action="store_true",
        help="disable oneDNN on CPU (its LSTM has a large per-call cost at batch 1)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    dev = torch.device(args.device)
    if args.no_mkldnn:
        torch.backends.mkldnn.enabled = False
    torch.manual_seed(0)
    model = CharLSTM(args.vocab, 32, args.hidden, args.layers).to(dev).eval()
    prefix = torch.randint(0, args.vocab, (args.prefix,)).tolist()
    cached, full = model.step, recompute_step(model.step_full)
    print(
        f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"LSTM {args.layers}x{args.hidden}, vocab {args.vocab}, prefix {args.prefix}, "
        f"{args.tokens} new tokens, oneDNN {'off' if args.no_mkldnn else 'on'}"
    )
    runs = {
        "greedy": lambda step: generate(step, prefix, args.tokens, device=dev),
        f"beam {args.beam}": lambda step: beam_search(
            step, prefix, args.tokens, args.beam, device=dev
        ),
    }
    for name, decode in runs.items():
        t_cached, out_cached = best_time(lambda d=decode: d(cached), args.repeats)
        t_full, out_full = best_time(lambda d=decode: d(full), args.repeats)
        same = "same tokens" if out_cached == out_full else "TOKENS DIFFER"
        print(
            f"{name:<8} cached {args.tokens / t_cached:9.0f} tok/s   recompute "
            f"{args.tokens / t_full:9.0f} tok/s   ratio {t_full / t_cached:6.1f}x   ({same})"
        )


if __name__ == "__main__":
    main()
