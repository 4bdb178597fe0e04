"""Character GRU language model at the book's size: a book-style loop against the engine.

The book's chapter 9 trains `RNNModel(nn.GRU(vocab, 32))` on batches of 1024 rows x 32
steps (d2l `train_ch8`): one-hot inputs built every batch (`F.one_hot(X.T, vocab).float()`),
the state detached between sequential batches, `CrossEntropyLoss` on `Y.T.reshape(-1)`, a
hand-written gradient-norm clip (`sqrt(sum(p.grad**2))`), SGD with lr 1, and the loss read
back with `.item()`-style accumulation each batch. Ours is the `gru-austen` recipe through the
engine with the same sizes (model.hidden_size=32, data.batch_size=1024, data.num_steps=32,
nn.GRU, no dropout). Both read the same Austen training ids; timed alternately over the same
number of batches after a warm-up pass, medians compared (only the ratio within one run
counts on a shared machine). Also prints where our step's time goes (torch.profiler).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_reference_lm.py [--batches 30]
        [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.recipes import load_recipe
from scratchdl.tasks import get_task
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo

BOOK = ["model.hidden_size=32", "model.dropout=0.0", "model.impl=torch",
        "data.batch_size=1024", "data.num_steps=32", "train.epochs=1"]  # fmt: skip


class BookRNNModel(nn.Module):
    """d2l's RNNModel: one-hot input, an nn.GRU, a linear output layer."""

    def __init__(self, vocab_size: int, hidden: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.GRU(vocab_size, hidden)
        self.linear = nn.Linear(hidden, vocab_size)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor):
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)
        Y, state = self.rnn(X, state)
        return self.linear(Y.reshape((-1, Y.shape[-1]))), state


def book_batches(ids: torch.Tensor, batch: int, steps: int):
    """d2l's seq_data_iter_sequential (offset 0): rows of the text, windows in order."""
    n = ((len(ids) - 1) // batch) * batch
    xs, ys = ids[:n].reshape(batch, -1), ids[1 : n + 1].reshape(batch, -1)
    for i in range(0, xs.shape[1] - steps + 1, steps):
        yield xs[:, i : i + steps], ys[:, i : i + steps]


def grad_clipping(net: nn.Module, theta: float) -> None:
    params = [p for p in net.parameters() if p.requires_grad]
    norm = torch.sqrt(sum(torch.sum(p.grad**2) for p in params))
    if norm > theta:
        for p in params:
            p.grad[:] *= theta / norm


def book_epoch(net, ids, batches: int, updater) -> float:
    """train_epoch_ch8 over `batches` batches; tokens per second."""
    loss_fn = nn.CrossEntropyLoss()
    state, total, tokens = None, 0.0, 0
    start = time.perf_counter()
    for i, (X, Y) in enumerate(book_batches(ids, 1024, 32)):
        if i == batches:
            break
        state = torch.zeros(1, X.shape[0], net.rnn.hidden_size) if state is None else state.detach()
        y = Y.T.reshape(-1)
        y_hat, state = net(X, state)
        loss = loss_fn(y_hat, y.long()).mean()
        updater.zero_grad()
        loss.backward()
        grad_clipping(net, 1)
        updater.step()
        total += loss.item() * y.numel()
        tokens += y.numel()
    assert math.isfinite(total)
    return tokens / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="print our step's profiler table")
    args = p.parse_args()
    cfg = load_recipe("gru-austen", [*BOOK, f"train.limit_batches={args.batches}"])
    run_dir = Path(tempfile.mkdtemp())  # what a task writes (vocab.json) goes there, not to cwd
    task = get_task(cfg["task"])(cfg, RunInfo(run_dir=run_dir))
    engine = Engine(task, show_progress=False)
    task.setup()
    engine._prepare_modules()
    engine._build_optimizers(1)
    ids = task.data.train
    torch.manual_seed(0)
    net = BookRNNModel(len(task.data.vocab), 32)
    updater = torch.optim.SGD(net.parameters(), lr=1.0)
    book_epoch(net, ids, args.batches, updater)  # warm-up
    engine._train_epoch(1, 1)
    book, ours = [], []
    for _ in range(args.repeats):
        book.append(book_epoch(net, ids, args.batches, updater))
        ours.append(engine._train_epoch(1, 1)["tokens_per_s"])
    b, o = statistics.median(book), statistics.median(ours)
    print(f"threads {torch.get_num_threads()}, GRU 32 hidden, {args.batches} batches of 1024x32")
    print(f"book-style loop: {b:10,.0f} tokens/s")
    print(f"scratchdl engine: {o:9,.0f} tokens/s")
    print(f"ratio engine / book-style: {o / b:.2f}x")
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            engine._train_epoch(1, 1)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
