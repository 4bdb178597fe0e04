"""Optimizer and learning-rate schedule from a recipe's [optimizer] and [schedule] tables.

The production path uses torch.optim (fused/foreach kernels). Schedules step once per
batch, so warm-up is smooth; epoch-based settings are converted to steps here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "cosine", "linear")


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    name, lr, wd = cfg["name"], cfg["lr"], cfg["weight_decay"]
    if lr <= 0:
        raise UserError(f"optimizer.lr must be > 0, got {lr}")
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"], weight_decay=wd
        )
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, betas=tuple(cfg["betas"]), weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg["momentum"], weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    raise UserError(f"unknown optimizer.name {name!r} (allowed: {', '.join(OPTIMIZERS)})")


def lr_factor(cfg: dict[str, Any], steps_per_epoch: int, total_steps: int):
    """Return step -> multiplier of the base lr (warm-up in front of the chosen decay)."""
    name = cfg["name"]
    if name not in SCHEDULES:
        raise UserError(f"unknown schedule.name {name!r} (allowed: {', '.join(SCHEDULES)})")
    warmup = int(round(cfg["warmup_epochs"] * steps_per_epoch))
    step_size = max(1, cfg["step_epochs"] * steps_per_epoch)
    gamma, floor = cfg["gamma"], cfg["min_factor"]
    decay_steps = max(1, total_steps - warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = step - warmup
        if name == "step":
            return gamma ** (t // step_size)
        if name == "cosine":
            return floor + (1 - floor) * 0.5 * (
                1 + math.cos(math.pi * min(t, decay_steps) / decay_steps)
            )
        if name == "linear":
            return 1 - (1 - floor) * min(t, decay_steps) / decay_steps
        return 1.0

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict[str, Any], steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_factor(cfg, steps_per_epoch, steps_per_epoch * epochs)
    )
