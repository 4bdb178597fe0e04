"""Gradient synchronisation written from point-to-point messages (the notes' chapters on
multi-GPU training and parameter servers), as alternatives to torch DDP in the engine.

`train.dist = "ring"`: every rank computes its gradient, then the ranks average them with
`ring_all_reduce`: the flat gradient is cut into `world` chunks; in `world - 1`
reduce-scatter steps each rank sends one chunk to its right neighbour and adds the chunk
arriving from its left, so that each rank ends holding one chunk summed over all ranks; in
`world - 1` all-gather steps the summed chunks travel once more round the ring. Each rank
sends 2 (world - 1) / world of the gradient, whatever the number of ranks: the reason
NCCL and Horovod use rings.

`train.dist = "ps"`: a parameter server. Rank 0 holds the parameters and the optimizer:
the other ranks (workers) push their gradients to it, it averages them with its own,
takes the optimizer step, and every worker pulls the new parameters back. Synchronous, so
it takes exactly the steps of DDP; it sends the whole model to and from one rank, which is
why it scales worse than a ring.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def ring_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over all ranks in place, by a ring of sends and receives; returns it."""
    world, rank = dist.get_world_size(), dist.get_rank()
    if world == 1:
        return tensor
    flat = tensor.view(-1)
    chunks = list(torch.tensor_split(flat, world))  # views: unequal sizes are fine
    right, left = (rank + 1) % world, (rank - 1) % world
    incoming = torch.empty_like(chunks[0])
    for step in range(world - 1):  # reduce-scatter: chunk (rank - step) moves right
        send_i, recv_i = (rank - step) % world, (rank - step - 1) % world
        buf = incoming[: chunks[recv_i].numel()]
        _exchange(chunks[send_i], buf, right, left)
        chunks[recv_i].add_(buf)
    for step in range(world - 1):  # all-gather: the summed chunk (rank + 1 - step) moves right
        send_i, recv_i = (rank + 1 - step) % world, (rank - step) % world
        buf = incoming[: chunks[recv_i].numel()]
        _exchange(chunks[send_i], buf, right, left)
        chunks[recv_i].copy_(buf)
    return tensor


def _exchange(send: torch.Tensor, recv: torch.Tensor, right: int, left: int) -> None:
    """Send to the right while receiving from the left (non-blocking: no ring deadlock)."""
    out = dist.isend(send.contiguous(), right)
    dist.recv(recv, left)
    out.wait()


def _flat_grads(params: list[nn.Parameter]) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    )


def _unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n


def _trainable(modules: list[nn.Module]) -> list[nn.Parameter]:
    seen: set[int] = set()
    out = []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def broadcast_parameters(modules: list[nn.Module]) -> None:
    """Every rank starts from rank 0's parameters and buffers (as DDP does)."""
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            dist.broadcast(t.data, src=0)


class RingSync:
    """train.dist = "ring": average the gradients with ring_all_reduce, then every rank steps."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.params = _trainable(modules)
        broadcast_parameters(modules)

    def step(self, engine: Any, names: list[str]) -> None:
        flat = _flat_grads(self.params)
        ring_all_reduce(flat)
        flat /= dist.get_world_size()
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        _unflatten_into(flat, [p.grad for p in self.params])
        for name in names:
            engine.step_optimizer(name)


class ParameterServerSync:
    """train.dist = "ps": workers push gradients to rank 0, it steps, they pull parameters."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.params = _trainable(modules)
        broadcast_parameters(modules)

    def step(self, engine: Any, names: list[str]) -> None:
        world, rank = dist.get_world_size(), dist.get_rank()
        flat = _flat_grads(self.params)
        if rank == 0:
            total, incoming = flat.clone(), torch.empty_like(flat)
            for worker in range(1, world):  # push: one gradient from each worker
                dist.recv(incoming, worker)
                total += incoming
            total /= world
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            _unflatten_into(total, [p.grad for p in self.params])
            for name in names:
                engine.step_optimizer(name)
            new = torch.cat([p.detach().reshape(-1) for p in self.params])
            for worker in range(1, world):  # pull: the updated parameters
                dist.send(new, worker)
        else:
            dist.send(flat, 0)
            new = torch.empty_like(flat)
            dist.recv(new, 0)
            with torch.no_grad():
                _unflatten_into(new, [p.data for p in self.params])
            for name in names:  # the server owns the optimizer state; workers only zero grads
                engine.optimizers[name].zero_grad(set_to_none=True)


SYNCS = {"ring": RingSync, "ps": ParameterServerSync}
