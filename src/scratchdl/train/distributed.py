"""The few torch.distributed facts the trainer needs; no-ops in a single process.

Under `torchrun` the trainer gets rank/world size from here, shards data with
`TensorLoader(rank=..., world_size=...)`, sums metric counts across ranks, and only
rank 0 writes checkpoints, logs and the store.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t
