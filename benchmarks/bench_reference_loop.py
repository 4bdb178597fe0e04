"""LeNet on Fashion-MNIST: a book-style training loop against scratchdl's engine, one run.

The reference is written the way the book's chapters train (d2l `train_ch6`): a
`DataLoader` with worker processes over a `TensorDataset`, the loss and accuracy of every
batch read back to Python (`.item()`/`float()` into an accumulator), plain `torch.optim.SGD`
(the book's lr 0.9), the model in the default NCHW layout and the book's layer order. Ours
is the `lenet-fmnist` recipe through the engine (its settings: channels-last, fused Adam,
max pooling before the ReLU, device-side metric sums).
Both train the same LeNet on the same normalised training images at batch 256; each is timed
over the same number of batches after one warm-up pass, alternately, `--repeats` times, and
the medians are compared (the machine is shared: only the ratio within one run counts).

    .venv/bin/python benchmarks/bench_reference_loop.py [--batches 200] [--repeats 3]
        [--workers 4] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from scratchdl.data import load_splits
from scratchdl.recipes import load_recipe
from scratchdl.tasks import get_task
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo


def book_lenet() -> nn.Module:
    """The book's LeNet as its chapter writes it (conv -> activation -> pool), with the
    recipe's ReLU and max pooling so that both loops train the same function."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def reference_epoch(model, loader, optimizer, batches: int) -> float:
    """The book's loop over `batches` batches; examples per second."""
    model.train()
    sums = [0.0, 0.0, 0.0]  # loss sum, correct, examples (d2l's Accumulator)
    start = time.perf_counter()
    batches_iter = iter(loader)
    for i, (x, y) in enumerate(batches_iter):
        if i == batches:
            break
        y_hat = model(x)
        loss = F.cross_entropy(y_hat, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            sums[0] += float(loss) * x.shape[0]
            sums[1] += float((y_hat.argmax(1) == y).sum())
            sums[2] += x.shape[0]
    speed = sums[2] / (time.perf_counter() - start)
    del batches_iter  # stops its worker processes
    return speed


def engine_for(batches: int) -> Engine:
    cfg = load_recipe("lenet-fmnist")
    cfg["train"].update(epochs=1, limit_batches=batches, device="cpu")
    run_dir = Path(tempfile.mkdtemp())  # what a task writes (vocab.json) goes there, not to cwd
    task = get_task(cfg["task"])(cfg, RunInfo(run_dir=run_dir))
    engine = Engine(task, show_progress=False)
    task.setup()
    engine._prepare_modules()
    engine._build_optimizers(1)
    return engine


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers (d2l uses 4)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_recipe("lenet-fmnist")
    splits = load_splits("fashion-mnist", val_size=cfg["data"]["val_size"], normalize=True)
    x, y = splits.train.x, splits.train.y
    torch.manual_seed(0)
    model = book_lenet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.9)
    # as the book: a fresh iterator (and worker processes) every epoch, gone when it ends, so
    # no worker is left running while the engine is timed
    loader = DataLoader(TensorDataset(x, y), batch_size=256, shuffle=True,
                        num_workers=args.workers)  # fmt: skip
    engine = engine_for(args.batches)
    reference_epoch(model, loader, optimizer, args.batches)  # warm-up (workers start)
    engine._train_epoch(1, 1)
    ref, ours = [], []
    for _ in range(args.repeats):
        ref.append(reference_epoch(model, loader, optimizer, args.batches))
        ours.append(engine._train_epoch(1, 1)["examples_per_s"])
    r, o = statistics.median(ref), statistics.median(ours)
    print(f"threads {torch.get_num_threads()}, {args.batches} batches of 256, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"book-style loop ({args.workers} workers, SGD, NCHW): {r:9,.0f} examples/s")
    print(f"scratchdl engine (lenet-fmnist recipe):        {o:9,.0f} examples/s")
    print(f"ratio engine / book-style: {o / r:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
