"""From-scratch optimizer step() vs torch.optim's foreach implementation, on ResNet-18's
parameter list (62 tensors, 11.7M numbers) with random gradients.

    .venv/bin/python benchmarks/bench_optim.py [--device cuda] [--steps 30]

Prints per optimizer the median step time of each and the ratio ours / torch (< 1: faster).
The two run interleaved step by step so machine noise hits both alike.
"""

import argparse
import statistics
import time

import torch
from torchvision.models import resnet18

from scratchdl.scratch.optim import OPTIMIZERS

TORCH_TWINS = {
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def resnet18_params_with_grads(device: torch.device) -> list[torch.Tensor]:
    params = [p.detach().to(device).requires_grad_() for p in resnet18().parameters()]
    for p in params:
        p.grad = torch.randn_like(p)
    return params


def clone_with_grads(params: list[torch.Tensor]) -> list[torch.Tensor]:
    copies = [p.detach().clone().requires_grad_() for p in params]
    for c, p in zip(copies, params, strict=True):
        c.grad = p.grad.clone()
    return copies


def timed_step(opt: torch.optim.Optimizer, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default_device)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per optimizer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    ours_params = resnet18_params_with_grads(device)
    numel = sum(p.numel() for p in ours_params)
    print(
        f"ResNet-18 parameters: {len(ours_params)} tensors, {numel / 1e6:.1f}M numbers, float32 "
        f"on {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}"
    )
    print(f"median of {args.steps} steps after {args.warmup} warm-up steps\n")
    print(f"{'optimizer':<10} {'torch foreach ms':>17} {'scratch ms':>11} {'ratio':>7}")
    for name, (cls, defaults) in OPTIMIZERS.items():
        hp = {**defaults, "lr": 1e-3}
        if name != "adamw":  # AdamW keeps its own default decay (1e-2)
            hp["weight_decay"] = args.weight_decay
        theirs_params = clone_with_grads(ours_params)
        ours = cls(clone_with_grads(ours_params), **hp)
        theirs = TORCH_TWINS[name](theirs_params, **hp, foreach=True)
        ours_t, theirs_t = [], []
        for i in range(args.warmup + args.steps):
            t_theirs, t_ours = timed_step(theirs, device), timed_step(ours, device)
            if i >= args.warmup:
                theirs_t.append(t_theirs)
                ours_t.append(t_ours)
        a, b = statistics.median(theirs_t) * 1e3, statistics.median(ours_t) * 1e3
        print(f"{name:<10} {a:>17.2f} {b:>11.2f} {b / a:>6.2f}x")
        del ours, theirs, theirs_params
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
