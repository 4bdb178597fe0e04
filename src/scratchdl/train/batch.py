"""Move a batch of any shape (tensors inside tuples, lists, dicts, lists of dicts) to a device."""

from __future__ import annotations

from typing import Any

import torch


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    """A copy of `batch` with every tensor on `device`; 4-d tensors NHWC when asked.

    Anything that is not a tensor or a container of them (ints, strings, None) is kept as is.
    """
    if isinstance(batch, torch.Tensor):
        out = batch.to(device, non_blocking=True)
        if channels_last and out.dim() == 4 and out.is_floating_point():
            out = out.contiguous(memory_format=torch.channels_last)
        return out
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, channels_last) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, channels_last) for v in batch)
    return batch
