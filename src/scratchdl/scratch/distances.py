"""L1/L2 distances from scratch, in the course's three forms (the kNN classifier's first half).

Shapes: queries `x` are (N, D), training points `train` are (M, D), distances are (N, M).

The three forms, slowest to fastest:
- two loops: one scalar distance per (query, train) pair;
- one loop: one query row against all training rows at once (broadcasting);
- no loop: matrix algebra over a block of queries at a time. L2 uses
  ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2 (one matrix product), clamped at 0 before the square root
  because rounding can make it slightly negative. L1 has no such identity, so it broadcasts
  (queries, train, D) tiles, kept cache-sized.

"No loop" is memory-bounded: queries (and, for L1, training points) are processed in blocks sized
from `max_bytes`, so 10k queries x 60k training images work without a 2.4 GB temporary.

Inputs are torch tensors; a numpy array raises a UserError naming torch.from_numpy.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import check_tensor

MiB = 1 << 20
DEFAULT_MAX_BYTES = 256 * MiB
METRICS = ("l1", "l2")
FORMS = ("two_loops", "one_loop", "no_loop")


# ----------------------------------------------------------------------------- input checks


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise UserError(f"metric must be one of {METRICS}, got {metric!r}")


def _check_pair(x: torch.Tensor, train: torch.Tensor) -> None:
    check_tensor(x, "kNN", "x")
    check_tensor(train, "kNN", "train")
    if x.ndim != 2 or train.ndim != 2:
        raise UserError(
            f"expected 2-D (N, D) queries and (M, D) training points, "
            f"got shapes {tuple(x.shape)} and {tuple(train.shape)}; flatten images first"
        )
    if x.shape[1] != train.shape[1]:
        raise UserError(
            f"queries and training points must have the same feature size D, "
            f"got {x.shape[1]} and {train.shape[1]}"
        )
    if x.dtype != train.dtype or x.device != train.device:
        raise UserError(
            f"queries and training points must share dtype and device, got "
            f"{x.dtype}/{x.device} and {train.dtype}/{train.device}"
        )
    if not x.is_floating_point():
        raise UserError(f"expected floating-point inputs, got {x.dtype}; call .float() first")


def _check_labels(train: torch.Tensor, labels: torch.Tensor) -> None:
    check_tensor(train, "kNN", "x_train")
    check_tensor(labels, "kNN", "labels")
    if labels.ndim != 1 or labels.shape[0] != train.shape[0]:
        raise UserError(
            f"expected labels of shape ({train.shape[0]},) matching the training points, "
            f"got {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise UserError(f"expected integer class labels, got {labels.dtype}")
    if labels.numel() and labels.min() < 0:
        raise UserError(f"expected labels >= 0, got min {int(labels.min())}")


def _check_k(k: int, num_train: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}")
    if k > num_train:
        raise UserError(f"k={k} is larger than the training set ({num_train} points); lower k")


# ----------------------------------------------------------------------------- distance forms


def l2_distances_two_loops(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Euclidean distances, one pair at a time (slow; for teaching)."""
    _check_pair(x, train)
    out = x.new_empty(x.shape[0], train.shape[0])
    for i in range(x.shape[0]):
        for j in range(train.shape[0]):
            out[i, j] = torch.sqrt(torch.sum((x[i] - train[j]) ** 2))
    return out


def l1_distances_two_loops(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Manhattan distances, one pair at a time (slow; for teaching)."""
    _check_pair(x, train)
    out = x.new_empty(x.shape[0], train.shape[0])
    for i in range(x.shape[0]):
        for j in range(train.shape[0]):
            out[i, j] = torch.sum(torch.abs(x[i] - train[j]))
    return out


def l2_distances_one_loop(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Euclidean distances, one query row at a time."""
    _check_pair(x, train)
    out = x.new_empty(x.shape[0], train.shape[0])
    for i in range(x.shape[0]):
        out[i] = torch.sqrt(torch.sum((train - x[i]) ** 2, dim=1))
    return out


def l1_distances_one_loop(x: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Manhattan distances, one query row at a time."""
    _check_pair(x, train)
    out = x.new_empty(x.shape[0], train.shape[0])
    for i in range(x.shape[0]):
        out[i] = torch.sum(torch.abs(train - x[i]), dim=1)
    return out


def _squared_l2_block(
    x_block: torch.Tensor, train: torch.Tensor, train_sq: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """Write ||a||^2 - 2 a.b + ||b||^2 for a block of queries into `out` (rows, M)."""
    torch.mm(x_block, train.T, out=out)
    out.mul_(-2.0)
    out.add_(x_block.pow(2).sum(dim=1, keepdim=True))
    out.add_(train_sq)
    return out.clamp_(min=0.0)


# On CPU, broadcast tiles for L1 are kept cache-sized: one huge (rows, M, D) temporary is several
# times slower than many small ones (measured single-threaded: 2 MiB tiles beat torch.cdist(p=1)
# by ~3x, 256 MiB tiles were ~8x slower). On GPUs the budget itself is used (fewer launches).
L1_TILE_BYTES = 2 * MiB


def _l1_block(x_block: torch.Tensor, train: torch.Tensor, out: torch.Tensor, max_bytes: int):
    """Write L1 distances of a block of queries into `out` (rows, M), broadcasting in tiles."""
    rows, dim = x_block.shape
    row_bytes = dim * x_block.element_size()
    budget = max_bytes if x_block.is_cuda else min(max_bytes, L1_TILE_BYTES)
    tile_rows = max(1, min(rows, 32, budget // row_bytes))
    tile_train = max(1, budget // (tile_rows * row_bytes))
    for i in range(0, rows, tile_rows):
        q = x_block[i : i + tile_rows, None, :]  # (tile_rows, 1, D)
        for j in range(0, train.shape[0], tile_train):
            t = train[None, j : j + tile_train, :]  # (1, tile_train, D)
            out[i : i + tile_rows, j : j + t.shape[1]] = (q - t).abs_().sum(dim=2)
    return out


def _block_rows(x: torch.Tensor, train: torch.Tensor, max_bytes: int, block_rows: int | None):
    if max_bytes < 1:
        raise UserError(f"max_bytes must be positive, got {max_bytes}")
    if block_rows is not None and block_rows < 1:
        raise UserError(f"block_rows must be a positive integer, got {block_rows}")
    if block_rows is None:  # one (rows, M) block of results must fit in the budget
        block_rows = max(1, max_bytes // (x.element_size() * train.shape[0]))
    return block_rows


def _write_blocks(
    x: torch.Tensor,
    train: torch.Tensor,
    metric: str,
    max_bytes: int,
    block_rows: int | None,
    squared: bool,
    out: torch.Tensor | None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Compute blocks of rows into slices of `out` (or fresh tensors when out is None)."""
    _check_pair(x, train)
    _check_metric(metric)
    block_rows = _block_rows(x, train, max_bytes, block_rows)
    train_sq = train.pow(2).sum(dim=1) if metric == "l2" else None
    for start in range(0, x.shape[0], block_rows):
        x_block = x[start : start + block_rows]
        if out is None:
            block = x.new_empty(x_block.shape[0], train.shape[0])
        else:
            block = out[start : start + x_block.shape[0]]
        if metric == "l2":
            _squared_l2_block(x_block, train, train_sq, block)
            if not squared:
                block.sqrt_()
        else:
            _l1_block(x_block, train, block, max_bytes)
        yield start, block


def iter_distance_blocks(
    x: torch.Tensor,
    train: torch.Tensor,
    metric: str = "l2",
    max_bytes: int = DEFAULT_MAX_BYTES,
    block_rows: int | None = None,
    squared: bool = False,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start_row, distances of queries start_row:start_row+rows) blocks of shape (rows, M).

    Rows per block come from `max_bytes` unless `block_rows` is given. `squared=True` skips the
    square root of L2 (same ranking, cheaper). Each block is a fresh tensor the caller may keep.
    """
    return _write_blocks(x, train, metric, max_bytes, block_rows, squared, out=None)


def l2_distances_no_loop(
    x: torch.Tensor,
    train: torch.Tensor,
    max_bytes: int = DEFAULT_MAX_BYTES,
    block_rows: int | None = None,
) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Euclidean distances via the ||a||^2 - 2ab + ||b||^2 expansion.

    Temporaries are bounded by `max_bytes`; the (N, M) result itself is returned in full.
    """
    return _assemble(x, train, "l2", max_bytes, block_rows)


def l1_distances_no_loop(
    x: torch.Tensor,
    train: torch.Tensor,
    max_bytes: int = DEFAULT_MAX_BYTES,
    block_rows: int | None = None,
) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) Manhattan distances by broadcasting cache-sized (q, t, D) tiles."""
    return _assemble(x, train, "l1", max_bytes, block_rows)


def _assemble(x, train, metric, max_bytes, block_rows) -> torch.Tensor:
    _check_pair(x, train)
    out = x.new_empty(x.shape[0], train.shape[0])
    for _ in _write_blocks(x, train, metric, max_bytes, block_rows, squared=False, out=out):
        pass  # each block is written in place into its rows of `out`
    return out


_FORMS = {
    ("l2", "two_loops"): l2_distances_two_loops,
    ("l2", "one_loop"): l2_distances_one_loop,
    ("l2", "no_loop"): l2_distances_no_loop,
    ("l1", "two_loops"): l1_distances_two_loops,
    ("l1", "one_loop"): l1_distances_one_loop,
    ("l1", "no_loop"): l1_distances_no_loop,
}


def pairwise_distances(
    x: torch.Tensor, train: torch.Tensor, metric: str = "l2", form: str = "no_loop"
) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) distances with `metric` in {"l1", "l2"} and `form` in FORMS."""
    _check_metric(metric)
    if form not in FORMS:
        raise UserError(f"form must be one of {FORMS}, got {form!r}")
    return _FORMS[(metric, form)](x, train)
