"""k-nearest neighbours from scratch: voting, prediction, the classifier and cross-validation.

Distances (L1/L2 in the course's three forms) live in scratchdl.scratch.distances. The
`knn_predict` path keeps only the k nearest per block of queries and never builds the full
(N, M) distance matrix.

Tie rule of the vote (`tie=`): by default ("nearest") the class of the nearest neighbour wins
among the classes with the most votes (e.g. k=2 with two different labels behaves like k=1);
"smallest" gives the smallest label, as the course's reference does.

Inputs are torch tensors; a numpy array raises a UserError naming torch.from_numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.errors import UserError
from scratchdl.scratch.distances import (
    DEFAULT_MAX_BYTES,
    _check_k,
    _check_labels,
    _check_pair,
    iter_distance_blocks,
)
from scratchdl.scratch.layers._common import check_tensor

# ----------------------------------------------------------------------------- voting


TIES = ("nearest", "smallest")


def majority_vote(
    neighbor_labels: torch.Tensor, num_classes: int | None = None, tie: str = "nearest"
) -> torch.Tensor:
    """(N, k) labels ordered nearest first -> (N,) predicted labels.

    Tie rule among the classes with the most votes: `tie="nearest"` (the default) picks the
    class of the nearest neighbour, so k=2 with two different labels behaves like k=1;
    `tie="smallest"` picks the smallest label, as the course's reference (np.argmax of the
    bincount) does.
    """
    check_tensor(neighbor_labels, "majority_vote", "neighbor_labels")
    if tie not in TIES:
        raise UserError(f"tie must be one of {', '.join(TIES)}, got {tie!r}")
    if neighbor_labels.ndim != 2 or neighbor_labels.shape[1] < 1:
        raise UserError(
            f"expected neighbour labels of shape (N, k) with k >= 1, "
            f"got {tuple(neighbor_labels.shape)}"
        )
    labels = neighbor_labels.long()
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.numel() else 1
    elif labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        raise UserError(
            f"neighbour labels must be in [0, {num_classes}), "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )
    counts = torch.zeros(labels.shape[0], num_classes, dtype=torch.long, device=labels.device)
    counts.scatter_add_(1, labels, torch.ones_like(labels))
    is_top = counts == counts.max(dim=1, keepdim=True).values
    if tie == "smallest":  # argmax returns the first (smallest) top class
        return is_top.to(torch.uint8).argmax(dim=1)
    # For each neighbour (nearest first): does it belong to a top class? Take the first that does.
    top_neighbor = is_top.gather(1, labels).to(torch.uint8).argmax(dim=1, keepdim=True)
    return labels.gather(1, top_neighbor).squeeze(1)


def nearest_indices(
    x: torch.Tensor,
    train: torch.Tensor,
    k: int,
    metric: str = "l2",
    max_bytes: int = DEFAULT_MAX_BYTES,
    block_rows: int | None = None,
) -> torch.Tensor:
    """(N, D), (M, D) -> (N, k) indices of the k nearest training points, nearest first.

    Never builds the full (N, M) matrix: each block keeps only its top k. Order among exactly
    equal distances is unspecified (torch.topk).
    """
    _check_pair(x, train)
    _check_k(k, train.shape[0])
    out = torch.empty(x.shape[0], k, dtype=torch.long, device=x.device)
    blocks = iter_distance_blocks(x, train, metric, max_bytes, block_rows, squared=True)
    for start, block in blocks:
        idx = torch.topk(block, k, dim=1, largest=False, sorted=True).indices
        out[start : start + block.shape[0]] = idx
    return out


def knn_predict(
    x: torch.Tensor,
    train: torch.Tensor,
    train_labels: torch.Tensor,
    k: int = 1,
    metric: str = "l2",
    max_bytes: int = DEFAULT_MAX_BYTES,
    num_classes: int | None = None,
    block_rows: int | None = None,
    tie: str = "nearest",
) -> torch.Tensor:
    """(N, D) queries, (M, D) training points, (M,) labels -> (N,) predicted labels.

    Memory-bounded by `max_bytes` (see module docstring); vote ties are broken by `tie`, see
    `majority_vote` ("nearest" neighbour by default, "smallest" label as in the course).
    """
    _check_pair(x, train)
    _check_labels(train, train_labels)
    idx = nearest_indices(x, train, k, metric, max_bytes, block_rows)
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    return majority_vote(train_labels[idx], num_classes, tie)




# ----------------------------------------------------------------------------- cross-validation


def cross_validate_k(
    x: torch.Tensor,
    y: torch.Tensor,
    ks: Sequence[int],
    folds: int = 5,
    metric: str = "l2",
    seed: int | None = 0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    tie: str = "nearest",
) -> tuple[int, dict[int, list[float]]]:
    """k-fold cross-validation of k. (N, D) points, (N,) labels -> (best_k, {k: [acc per fold]}).

    Folds are `torch.tensor_split(order, folds)` where `order` is
    `torch.randperm(N, generator=torch.Generator().manual_seed(seed))`, or `arange(N)` when seed is
    None. Neighbours are searched once per fold for max(ks) and reused for every k. The best k
    has the highest mean validation accuracy; ties go to the smallest k. `tie` breaks vote
    ties as in `majority_vote`.
    """
    check_tensor(x, "cross_validate_k", "x")
    if x.ndim != 2:
        raise UserError(f"expected 2-D (N, D) points, got shape {tuple(x.shape)}")
    _check_labels(x, y)
    ks = [int(k) for k in ks]
    if not ks:
        raise UserError("ks must hold at least one candidate k, got an empty list")
    if folds < 2 or folds > x.shape[0]:
        raise UserError(f"folds must be in [2, N={x.shape[0]}], got {folds}")
    n = x.shape[0]
    if seed is None:
        order = torch.arange(n)
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    order = order.to(x.device)
    parts = torch.tensor_split(order, folds)
    smallest_train = n - max(p.numel() for p in parts)
    for k in ks:
        _check_k(k, smallest_train)
    num_classes = int(y.max()) + 1
    k_max = max(ks)
    accuracies: dict[int, list[float]] = {k: [] for k in ks}
    for f, val_idx in enumerate(parts):
        train_idx = torch.cat([p for g, p in enumerate(parts) if g != f])
        nearest = nearest_indices(x[val_idx], x[train_idx], k_max, metric, max_bytes)
        neighbor_labels = y[train_idx][nearest]  # (n_val, k_max), nearest first
        for k in ks:
            pred = majority_vote(neighbor_labels[:, :k], num_classes, tie)
            accuracies[k].append((pred == y[val_idx]).double().mean().item())
    means = {k: sum(a) / len(a) for k, a in accuracies.items()}
    best_k = min(ks, key=lambda k: (-means[k], k))
    return best_k, accuracies
