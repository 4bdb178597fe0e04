"""Minibatches for language models, cut from one long id sequence: random and sequential.

Both yield (X, Y), int64 [batch_size, num_steps], with Y = X shifted by one token (the targets
of next-token prediction). The work is tensor views and one index per batch: no Python loop
over tokens. Arguments are checked (and the random draws made) when the function is called;
the batches are produced lazily as the iterator is consumed.

random_batches      the corpus, after a random start offset, is cut into subsequences of
                    num_steps tokens; each epoch visits them in a random order, so neighbouring
                    rows are unrelated and the hidden state must be reset for every batch.
sequential_batches  the corpus is cut into batch_size long rows laid side by side; batch t+1
                    continues batch t row by row, so the hidden state can be carried over
                    (truncated backpropagation through time).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from scratchdl.errors import UserError

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check(ids: torch.Tensor, batch_size: int, num_steps: int, fn: str) -> torch.Tensor:
    """`ids` as contiguous int64 after checking every argument; UserError otherwise."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype not in _INT_DTYPES:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids)
        raise UserError(
            f"{fn}: expected ids as a 1-D integer tensor, got {got}; use vocab.encode(tokens)"
        )
    for name, v in (("batch_size", batch_size), ("num_steps", num_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"{fn}: {name} must be an int >= 1, got {v!r}")
    need = batch_size * num_steps + 1
    if len(ids) < need:
        raise UserError(
            f"{fn}: {len(ids)} tokens cannot fill one batch of {batch_size} x {num_steps} "
            f"(needs {need}); use a longer text or smaller batch_size/num_steps"
        )
    return ids.to(torch.int64).contiguous()


def random_batches(
    ids: torch.Tensor,
    batch_size: int,
    num_steps: int,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random partitioning (the book's seq_data_iter_random) of ids [N] into (X, Y) batches.

    A random offset in 0..num_steps-1 is dropped from the start (so every epoch sees different
    cuts), the rest is cut into n = (N - offset - 1) // num_steps subsequences, and those are
    dealt out in a random order, batch_size per batch; the n % batch_size left over are
    skipped. For very short corpora the offset is capped so that one batch always exists.
    All randomness comes from `generator` (default: torch's global one).
    """
    ids = _check(ids, batch_size, num_steps, "random_batches")
    max_offset = min(num_steps, len(ids) - batch_size * num_steps)  # keeps one full batch
    offset = int(torch.randint(max_offset, (1,), generator=generator))
    n = (len(ids) - offset - 1) // num_steps
    xs = ids[offset : offset + n * num_steps].view(n, num_steps)
    ys = ids[offset + 1 : offset + 1 + n * num_steps].view(n, num_steps)
    order = torch.randperm(n, generator=generator).to(ids.device)
    return _rows_in_order(xs, ys, order, batch_size)


def _rows_in_order(
    xs: torch.Tensor, ys: torch.Tensor, order: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for b in range(len(order) // batch_size):
        rows = order[b * batch_size : (b + 1) * batch_size]
        yield xs[rows], ys[rows]


def sequential_batches(
    ids: torch.Tensor,
    batch_size: int,
    num_steps: int,
    offset: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Sequential partitioning (the book's seq_data_iter_sequential) of ids [N].

    After dropping `offset` tokens (the book draws it at random each epoch), the largest
    multiple of batch_size tokens that leaves one target token is laid out as batch_size rows
    of L tokens each; batch t holds columns t*num_steps .. (t+1)*num_steps - 1 of every row.
    So row i of batch t+1 starts exactly where row i of batch t ended. Yields L // num_steps
    batches; the last L % num_steps columns are dropped.
    """
    ids = _check(ids, batch_size, num_steps, "sequential_batches")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise UserError(f"sequential_batches: offset must be an int >= 0, got {offset!r}")
    row_len = (len(ids) - offset - 1) // batch_size
    if row_len < num_steps:
        raise UserError(
            f"sequential_batches: offset {offset} leaves {len(ids) - offset} tokens, too few "
            f"for one batch of {batch_size} x {num_steps}; use a smaller offset"
        )
    xs = ids[offset : offset + batch_size * row_len].view(batch_size, row_len)
    ys = ids[offset + 1 : offset + 1 + batch_size * row_len].view(batch_size, row_len)
    return _column_windows(xs, ys, num_steps)


def _column_windows(
    xs: torch.Tensor, ys: torch.Tensor, num_steps: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for t in range(xs.shape[1] // num_steps):
        cols = slice(t * num_steps, (t + 1) * num_steps)
        yield xs[:, cols].contiguous(), ys[:, cols].contiguous()
