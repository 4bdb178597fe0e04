"""torch.distributed for the engine: process group set-up, DDP wrapping, collectives.

Every helper is a no-op in a single process. Under `scratchdl run --nproc N` or `torchrun`
each process reads RANK / WORLD_SIZE / MASTER_ADDR from the environment, joins the group
(gloo on CPU, NCCL on CUDA), shards its data by rank, all-reduces metric sums, and only
rank 0 writes the run directory, checkpoints and the store.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

# A rank that dies leaves the others waiting in a collective; they give up after this long.
TIMEOUT_ENV = "SCRATCHDL_DDP_TIMEOUT"
DEFAULT_TIMEOUT_S = 300
# How the gradients of several processes are combined (train.dist): torch's DDP, or our
# own ring all-reduce / parameter server from point-to-point messages (train/collective.py)
DIST_MODES = ("ddp", "ring", "ps")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True in a process started by torchrun / `--nproc` (WORLD_SIZE set, > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device_kind: str = "auto") -> None:
    """Join the process group described by the environment (once; no-op without torchrun)."""
    if is_distributed() or not launched_by_torchrun():
        return
    use_cuda = torch.cuda.is_available() and device_kind != "cpu"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)


def shutdown() -> None:
    if is_distributed():
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` (already on `device`)."""
    if device.type != "cuda":  # gloo on CPU: no device ids (and no CUDA call at all)
        return nn.parallel.DistributedDataParallel(module)
    ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


@contextlib.contextmanager
def no_sync(task: Any) -> Iterator[None]:
    """Skip the gradient all-reduce of every DDP module of `task` (gradient accumulation)."""
    with contextlib.ExitStack() as stack:
        for name in task.module_names:
            m = getattr(task, name)
            if isinstance(m, nn.parallel.DistributedDataParallel):
                stack.enter_context(m.no_sync())
        yield


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        if t.device.type == "cpu" and dist.get_backend() == "nccl":
            moved = t.cuda()
            dist.all_reduce(moved, op=dist.ReduceOp.SUM)
            t.copy_(moved.cpu())
        else:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. the run id and directory it created)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()
