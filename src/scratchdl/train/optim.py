"""Optimizers and learning-rate schedules from a recipe's [optimizer] and [schedule] tables.

`optimizer.impl = "torch"` uses torch.optim (fused/foreach kernels); "scratch" the
hand-written optimizers of scratchdl.scratch.optim, proven equal to torch.optim step for step.
`optimizer.no_decay_bias_norm = true` puts biases and norm weights (every parameter with fewer
than 2 dimensions) in a group without weight decay, as nanoGPT's configure_optimizers does.

Every task's schedule is scratchdl.scratch.schedules (twin-proven against
torch.optim.lr_scheduler), stepped once per optimizer step; epoch-based settings are
converted to steps here. The schedule is a factor of each group's own lr, so groups with
different lrs (a fine-tuned backbone) keep their ratio.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.scratch import optim as scratch_optim
from scratchdl.scratch.schedules import make_schedule

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "multistep", "cosine", "linear", "inverse_sqrt", "noam")
IMPLS = ("torch", "scratch")
KERNELS = ("auto", "fused", "foreach", "loop")
FUSED = ("sgd", "adam", "adamw", "adagrad")  # torch.optim classes with a fused kernel


def param_groups(
    params: nn.Module | Iterable[Any], weight_decay: float, no_decay_bias_norm: bool
) -> list[dict[str, Any]]:
    """Trainable parameters as groups; with no_decay_bias_norm, tensors of dim < 2 decay-free."""
    if isinstance(params, nn.Module):
        params = params.parameters()
    items = list(params)
    if items and isinstance(items[0], dict):  # already groups (e.g. head and backbone)
        groups = [dict(g, params=[p for p in g["params"] if p.requires_grad]) for g in items]
    else:
        groups = [{"params": [p for p in items if p.requires_grad]}]
    out = []
    for g in groups:
        g.setdefault("weight_decay", weight_decay)
        if no_decay_bias_norm:
            decay = [p for p in g["params"] if p.dim() >= 2]
            keep = [p for p in g["params"] if p.dim() < 2]
            out.append({**g, "params": decay})
            if keep:
                out.append({**g, "params": keep, "weight_decay": 0.0})
        else:
            out.append(g)
    return [g for g in out if g["params"]]


TORCH_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def hyperparameters(cfg: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments [optimizer] gives its optimizer (name, impl and lr checked)."""
    name, lr, impl = cfg["name"], cfg["lr"], cfg.get("impl", "torch")
    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer.name {name!r} (allowed: {', '.join(OPTIMIZERS)})")
    if impl not in IMPLS:
        raise UserError(f"optimizer.impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    if lr <= 0:
        raise UserError(f"optimizer.lr must be > 0, got {lr}")
    hp: dict[str, Any] = {"lr": lr}
    if name == "sgd":
        hp.update(momentum=cfg["momentum"], nesterov=cfg["nesterov"])
    elif name in ("adam", "adamw"):
        hp["betas"] = tuple(cfg["betas"])
    elif name == "rmsprop":
        hp["momentum"] = cfg["momentum"]
    return hp


def build_optimizer(
    params: nn.Module | Iterable[Any], cfg: dict[str, Any]
) -> torch.optim.Optimizer:
    """The optimizer cfg describes over `params` (a module, tensors or param-group dicts)."""
    hp = hyperparameters(cfg)
    groups = param_groups(params, cfg["weight_decay"], bool(cfg.get("no_decay_bias_norm", False)))
    if not groups:
        raise UserError("the optimizer got no trainable parameters: check which layers are frozen")
    if cfg.get("impl", "torch") == "scratch":
        return scratch_optim.scratch_optimizer(cfg["name"], groups, **hp)
    hp.update(kernel_options(cfg["name"], cfg.get("kernel", "auto"), groups))
    return TORCH_OPTIMIZERS[cfg["name"]](groups, **hp)


def kernel_options(name: str, kernel: str, groups: list[dict[str, Any]]) -> dict[str, bool]:
    """torch.optim's fused/foreach flags for optimizer.kernel.

    "auto" takes the fused kernel (one kernel for every parameter's update) where torch has
    one for this optimizer and these parameters, else foreach (one op per kind of update over
    all tensors); "loop" is torch's per-parameter Python loop. On CPU torch's own default is
    the loop, which costs LeNet ~10% of its step.
    """
    if kernel not in KERNELS:
        raise UserError(f"optimizer.kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    params = [p for g in groups for p in g["params"]]
    fused_ok = name in FUSED and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") and not p.is_sparse
        for p in params
    )
    if kernel == "fused" and not fused_ok:
        raise UserError(
            f"optimizer.kernel=fused: torch has no fused {name} for these parameters "
            f"(fused: {', '.join(FUSED)} on CPU/CUDA floating tensors); use auto or foreach"
        )
    if kernel == "auto":
        kernel = "fused" if fused_ok else "foreach"
    return {"fused": True} if kernel == "fused" else {"foreach": kernel == "foreach"}


def schedule_factor(cfg: dict[str, Any], steps_per_epoch: int, total_steps: int):
    """The scratch Schedule for cfg as a factor of the base lr (its lr_at(step, 1.0))."""
    name = cfg["name"]
    if name not in SCHEDULES:
        raise UserError(f"unknown schedule.name {name!r} (allowed: {', '.join(SCHEDULES)})")
    total = max(1, total_steps)
    warmup = cfg.get("warmup_steps", 0) or int(round(cfg["warmup_epochs"] * steps_per_epoch))
    warmup = min(warmup, total - 1)
    hp: dict[str, Any] = {"warmup_steps": warmup}
    if warmup and name != "noam":
        # (s + 1) / W during warm-up: the first step already trains (torch LinearLR style)
        hp["warmup_start_factor"] = 1.0 / (warmup + 1)
    if name == "step":
        hp.update(step_size=max(1, int(cfg["step_epochs"] * steps_per_epoch)), gamma=cfg["gamma"])
    elif name == "multistep":
        ms = [max(1, int(round(e * steps_per_epoch))) for e in cfg.get("milestones", [])]
        hp.update(gamma=cfg["gamma"], **({"milestones": ms} if ms else {}))
    elif name == "cosine":
        hp["eta_min"] = cfg["min_factor"]
    elif name == "linear":
        hp["end_factor"] = cfg["min_factor"]
    elif name == "noam":
        if not warmup:
            raise UserError("schedule.name=noam needs schedule.warmup_steps or warmup_epochs > 0")
        return make_schedule("inverse_sqrt", total, warmup_steps=warmup, d_model=cfg["d_model"])
    return make_schedule(name, total, **hp)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict[str, Any], steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler over `epochs` epochs of `steps_per_epoch` optimizer steps."""
    schedule = schedule_factor(cfg, steps_per_epoch, steps_per_epoch * epochs)
    opt = getattr(optimizer, "optimizer", optimizer)  # a DictOptimizer wraps a torch one
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: schedule.lr_at(step, 1.0))
