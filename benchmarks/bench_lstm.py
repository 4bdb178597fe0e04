"""Training speed (forward + backward) of the from-scratch LSTM vs nn.LSTM, in tokens/s.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_lstm.py [--cells lstm gru rnn]
        [--layers 1 2] [--batch 32] [--steps 35] [--input 28] [--hidden 256] [--device cpu]

Sizes default to the book's character language model (one-hot input of 28 symbols, 35 steps).
Each iteration is one forward and backward pass of a batch; the implementations run
interleaved, iteration by iteration, so machine noise hits all alike; medians are reported.
Besides torch's fused kernel it times a book-style scratch LSTM (separate matmuls for every gate
and every step, the textbook's layout) to show what the fused layout of scratchdl.nn buys.
Ratio = time per batch / nn's time per batch (1.0 = as fast as torch, larger = slower).
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from scratchdl.nn import make_recurrent


def book_style_lstm(torch_lstm: nn.LSTM) -> tuple[Callable, list[torch.Tensor]]:
    """The textbook's scratch LSTM on torch_lstm's weights: per gate W_x*, W_h*, b_* and
    two matmuls per gate per step. Returns forward(x) -> output [T, B, H] and its leaves."""
    layers, leaves = [], []
    for k in range(torch_lstm.num_layers):
        w_ih, w_hh = getattr(torch_lstm, f"weight_ih_l{k}"), getattr(torch_lstm, f"weight_hh_l{k}")
        bias = getattr(torch_lstm, f"bias_ih_l{k}") + getattr(torch_lstm, f"bias_hh_l{k}")
        gates = []
        for w_x, w_h, b in zip(w_ih.chunk(4), w_hh.chunk(4), bias.chunk(4), strict=True):
            gates.append([t.detach().t().contiguous().requires_grad_() for t in (w_x, w_h)])
            gates[-1].append(b.detach().clone().requires_grad_())
            leaves += gates[-1]
        layers.append(gates)

    def forward(x: torch.Tensor) -> torch.Tensor:
        for (w_xi, w_hi, b_i), (w_xf, w_hf, b_f), (w_xc, w_hc, b_c), (w_xo, w_ho, b_o) in layers:
            h = c = x.new_zeros(x.shape[1], w_hi.shape[0])
            outputs = []
            for x_t in x:
                i = torch.sigmoid(x_t @ w_xi + h @ w_hi + b_i)
                f = torch.sigmoid(x_t @ w_xf + h @ w_hf + b_f)
                o = torch.sigmoid(x_t @ w_xo + h @ w_ho + b_o)
                c_tilde = torch.tanh(x_t @ w_xc + h @ w_hc + b_c)
                c = f * c + i * c_tilde
                h = o * torch.tanh(c)
                outputs.append(h)
            x = torch.stack(outputs)
        return x

    return forward, leaves


def timed_pass(forward: Callable, x: torch.Tensor, device: torch.device) -> float:
    """Seconds for one forward + backward (a sum loss, so every output gets a gradient)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    forward(x).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm"], choices=["lstm", "gru", "rnn"])
    parser.add_argument("--layers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=35)
    parser.add_argument("--input", type=int, default=28, help="one-hot vocabulary size")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--iters", type=int, default=20, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--no-book", action="store_true", help="skip the book-style LSTM")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    tokens = args.batch * args.steps
    print(
        f"batch {args.batch} x {args.steps} steps = {tokens} tokens, one-hot input {args.input}, "
        f"hidden {args.hidden}, float32 on {device} ({torch.get_num_threads()} CPU threads), "
        f"torch {torch.__version__}; median of {args.iters} after {args.warmup} warm-up"
    )
    print(f"\n{'cell':<5} {'layers':>6} {'impl':<8} {'ms/batch':>9} {'tokens/s':>10} {'ratio':>6}")
    torch.manual_seed(0)
    for cell in args.cells:
        for num_layers in args.layers:
            theirs = make_recurrent(cell, "torch", args.input, args.hidden, num_layers).to(device)
            ours = make_recurrent(cell, "scratch", args.input, args.hidden, num_layers).to(device)
            ours.load_state_dict(theirs.state_dict())
            forwards = {"torch": lambda x, m=theirs: m(x)[0], "scratch": lambda x, m=ours: m(x)[0]}
            if cell == "lstm" and not args.no_book:
                forwards["book"] = book_style_lstm(theirs)[0]
            ids = torch.randint(args.input, (args.steps, args.batch), device=device)
            x = nn.functional.one_hot(ids, args.input).float()
            times: dict[str, list[float]] = {name: [] for name in forwards}
            for _ in range(args.warmup + args.iters):
                for name, forward in forwards.items():
                    times[name].append(timed_pass(forward, x, device))
            base = statistics.median(times["torch"][args.warmup :])
            for name, samples in times.items():
                ms = statistics.median(samples[args.warmup :])
                print(
                    f"{cell:<5} {num_layers:>6} {name:<8} {ms * 1e3:>9.1f} {tokens / ms:>10.0f} "
                    f"{ms / base:>6.2f}"
                )


if __name__ == "__main__":
    main()
