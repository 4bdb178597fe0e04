"""TensorLoader: minibatches of in-memory tensors, with no per-example Python work.

Each epoch is one index permutation (a pure function of seed + epoch, from a private
torch.Generator, never the global RNG); rows are gathered with index_select a few MiB at a
time and cut into batches by slicing.
Because the order depends on nothing else, a resumed run replays the same batches, and under
torch.distributed every rank computes the same permutation and takes its own strided shard,
padded exactly like torch.utils.data.DistributedSampler (same seed + epoch scheme, so the same
index sets). Call set_epoch(epoch) before each epoch when shuffling, as with DistributedSampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from scratchdl.errors import UserError

CHUNK_BYTES = 24 << 20  # rows of x gathered per index_select (rounded to whole batches)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"TensorLoader {name}: expected an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise UserError(f"TensorLoader {name}: expected {bound}, got {value}")
    return value


class TensorLoader:
    """Iterate (xb, yb) batches of x [N, ...] and y [N, ...].

    batch_size: examples per batch (the last may be smaller unless drop_last).
    shuffle / seed: a fresh permutation each epoch from seed + epoch (see set_epoch).
    rank / world_size: this process's shard; every rank gets ceil(N / world_size) examples,
    the permutation's head repeated to pad, as DistributedSampler does.
    device: where batches are moved (non_blocking); None leaves them where x and y are.
    Unshuffled single-process batches are views of x and y, not copies.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        device: str | torch.device | None = None,
    ):
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise UserError(
                f"TensorLoader: expected x and y to be torch.Tensor, got "
                f"{type(x).__name__} and {type(y).__name__}"
            )
        if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
            raise UserError(
                f"TensorLoader: x and y need the same first dimension, got shapes "
                f"{tuple(x.shape)} and {tuple(y.shape)}"
            )
        self.x, self.y = x, y
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.world_size = _check_int("world_size", world_size, 1)
        self.rank = _check_int("rank", rank, 0, self.world_size - 1)
        self.seed = _check_int("seed", seed, -(2**63))
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = torch.device(device) if device is not None else None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration uses (shuffle = f(seed + epoch))."""
        self.epoch = _check_int("epoch", epoch, 0)

    @property
    def _per_rank(self) -> int:
        return math.ceil(len(self.x) / self.world_size)

    @property
    def num_examples(self) -> int:
        """Examples this rank sees per epoch (after padding and drop_last)."""
        if self.drop_last:
            return self._per_rank // self.batch_size * self.batch_size
        return self._per_rank

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return math.ceil(self.num_examples / self.batch_size)

    def indices(self) -> torch.Tensor:
        """int64 [per-rank count]: the dataset rows this rank visits this epoch, in order."""
        n = len(self.x)
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)  # DistributedSampler's scheme
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            total = self._per_rank * self.world_size
            if total > n:  # pad with the head of the order, cycling if it is shorter
                order = torch.cat([order, order.repeat(math.ceil((total - n) / n))[: total - n]])
            order = order[self.rank : total : self.world_size]
        return order

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        bs, stop = self.batch_size, self.num_examples
        if not self.shuffle and self.world_size == 1:
            chunks = ((self.x[:stop], self.y[:stop]),)  # rows in order: slices are views
        else:
            chunks = self._gathered_chunks(self.indices()[:stop])
        for xc, yc in chunks:
            for start in range(0, len(xc), bs):
                xb, yb = xc[start : start + bs], yc[start : start + bs]
                if self.device is not None:
                    xb = xb.to(self.device, non_blocking=True)
                    yb = yb.to(self.device, non_blocking=True)
                yield xb, yb

    def _gathered_chunks(self, order: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Rows `order` of x and y, gathered a whole number of batches (~CHUNK_BYTES) at a time.

        One index_select per batch starts a parallel region per batch, which on a busy machine
        costs far more than the copy; a few MiB per gather amortises that, and staying under
        malloc's mmap threshold avoids fresh page faults each epoch.
        """
        row_bytes = max(1, self.x[:1].numel() * self.x.element_size())
        rows = max(1, CHUNK_BYTES // row_bytes // self.batch_size) * self.batch_size
        order_x = order.to(self.x.device)
        order_y = order_x if self.y.device == self.x.device else order.to(self.y.device)
        for start in range(0, len(order), rows):
            yield (
                self.x.index_select(0, order_x[start : start + rows]),
                self.y.index_select(0, order_y[start : start + rows]),
            )


def data_order_seed(seed: int) -> int:
    """Seed for a loader whose epoch e shuffles with `seed + e` (DistributedSampler's scheme).

    Spreading run seeds apart keeps runs with seeds s and s+1 from sharing data orders
    (epoch e+1 of one would otherwise be epoch e of the other) in multi-seed studies.
    """
    return seed * 1_000_003
