"""Layer-by-layer summary of a model: output shape, parameters and multiply-accumulates.

One forward pass on zeros (eval mode, no grad) with a forward hook on every leaf module
records rows in execution order. Cost is counted in MACs (one multiply plus one add = 1,
the "FLOPs" of the ResNet paper and of torchvision's model tables; hardware FLOPs are about
2 x MACs). Counted: convolutions and linear layers (bias adds ignored), batch norm (one
scale-and-shift per element, eval mode), pooling (one operation per window element).
Activations, dropout, reshapes and tensor ops outside modules (cat, +) count 0.
Works on a model built under `torch.device("meta")`: shapes and counts without compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def _macs(module: nn.Module, x: Any, out: Any) -> int:
    if not isinstance(out, torch.Tensor):
        return 0
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = math.prod(module.kernel_size)
        if module.transposed:  # each input element scatters into out_channels/groups kernels
            return x.numel() * (module.out_channels // module.groups) * kernel
        return out.numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    if hasattr(module, "running_mean") and hasattr(module, "running_var"):  # any batch norm
        return out.numel()
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = module.kernel_size
        return out.numel() * (k * k if isinstance(k, int) else math.prod(k))
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return x.numel() if isinstance(x, torch.Tensor) else 0
    return 0


def _shape(out: Any) -> tuple | str:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return tuple(out[0].shape)
    return type(out).__name__


def layer_summary(model: nn.Module, input_shape: Sequence[int]) -> list[dict[str, Any]]:
    """Rows {name, type, output_shape, params, macs}, one per leaf-module call, in order.

    `input_shape` is the whole input, batch included, e.g. (1, 1, 28, 28); MACs are for
    that batch. A module called twice gets two rows but its parameters count once, so
    sum(row["params"]) == sum(p.numel() for p in model.parameters()). Shape errors from
    the forward pass propagate as torch's RuntimeError.
    """
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, out: Any) -> None:
            first_call = id(module) not in seen
            seen.add(id(module))
            own = sum(p.numel() for p in module.parameters(recurse=False)) if first_call else 0
            x = inputs[0] if inputs else None
            rows.append(
                {
                    "name": name or "(model)",
                    "type": type(module).__name__,
                    "output_shape": _shape(out),
                    "params": own,
                    "macs": _macs(module, x, out),
                }
            )

        return record

    # Leaves, plus any container that owns parameters directly (else they would be missed).
    handles = [
        m.register_forward_hook(hook(name))
        for name, m in model.named_modules()
        if not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False))
    ]
    first = next(model.parameters(), None)
    like = {"device": first.device, "dtype": first.dtype} if first is not None else {}
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(*input_shape, **like))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return rows


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of `rows` and a totals line (parameters and MACs)."""
    header = ("layer", "type", "output shape", "params", "MACs")
    table = [
        (r["name"], r["type"], str(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3], strict=True)]
        right = [c.rjust(w) for c, w in zip(cells[3:], widths[3:], strict=True)]
        return "  ".join(left + right).rstrip()

    params = sum(r["params"] for r in rows)
    macs = sum(r["macs"] for r in rows)
    rule = "-" * len(line(header))
    body = [line(header), rule, *(line(row) for row in table), rule]
    body.append(f"total: {params:,} parameters ({_human(params)}), {_human(macs)} MACs")
    return "\n".join(body)
