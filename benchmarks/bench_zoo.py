"""Training throughput of every zoo recipe's model at its recipe's settings.

For each recipe: one optimizer step (forward, cross-entropy, backward, step) on a random
batch of the recipe's batch size and input size, timed as the median of a few steps after
warm-up, as examples/s. Also with the channels-last memory format and with torch.compile,
each reported as a ratio to plain eager measured in the same run (the machine is shared).

    .venv/bin/python benchmarks/bench_zoo.py [--recipes a,b] [--steps 5] [--threads N]
        [--no-compile] [--device cpu|cuda]

Data loading is excluded: TensorLoader is measured by bench_loader.py and is not the limit.
"""

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from scratchdl.models._resize import build_for_data
from scratchdl.recipes import load_recipe
from scratchdl.train.optim import build_optimizer

ZOO = [
    "lenet-fmnist",
    "bn-lenet-fmnist",
    "alexnet-fmnist",
    "vgg-fmnist",
    "nin-fmnist",
    "googlenet-fmnist",
    "resnet18-fmnist",
    "densenet-fmnist",
    "resnext-fmnist",
    "senet-fmnist",
    "mobilenet-fmnist",
]


def step_time(model, cfg, device, steps: int, channels_last: bool, compiled: bool) -> float:
    """Median seconds of one training step."""
    model = copy.deepcopy(model).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg["optimizer"])
    forward = torch.compile(model) if compiled else model
    batch = cfg["data"]["batch_size"]
    x = torch.randn(batch, 1, 28, 28, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    times = []
    for i in range(steps + 2):  # two warm-up steps (compile happens in the first)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(ZOO))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    header = f"{'recipe':<18} {'input':>6} {'batch':>5} {'params':>9} {'eager ex/s':>10}"
    print(header + f" {'channels-last':>13} {'compile':>8}")
    for name in args.recipes.split(","):
        cfg = load_recipe(name)
        torch.manual_seed(0)
        model = build_for_data(
            cfg["model"],
            in_channels=1,
            num_classes=10,
            native_size=(28, 28),
            image_size=cfg["data"]["image_size"],
        )
        params = sum(p.numel() for p in model.parameters())
        batch = cfg["data"]["batch_size"]
        eager = step_time(model, cfg, device, args.steps, False, False)
        last = step_time(model, cfg, device, args.steps, True, False)
        compiled = None
        if not args.no_compile:
            try:
                compiled = step_time(model, cfg, device, args.steps, False, True)
            except Exception as e:  # compile needs a C compiler; report, keep going
                print(f"  torch.compile failed for {name}: {type(e).__name__}: {str(e)[:80]}")
        side = cfg["data"]["image_size"] or 28
        ratio = f"{eager / compiled:.2f}x" if compiled else "-"
        print(
            f"{name:<18} {side:>6} {batch:>5} {params:>9,} {batch / eager:>10,.0f}"
            f" {eager / last:>12.2f}x {ratio:>8}",
            flush=True,
        )


if __name__ == "__main__":
    main()
