"""The course's k-nearest-neighbour classifier: `train` memorizes, `predict` votes among the k
nearest (distances and voting: scratchdl.scratch.distances and scratchdl.scratch.knn).
Registered as "knn".
"""

from __future__ import annotations

import torch

from scratchdl.errors import UserError
from scratchdl.models._registry import register_model
from scratchdl.scratch.distances import DEFAULT_MAX_BYTES, _check_labels, pairwise_distances
from scratchdl.scratch.knn import knn_predict
from scratchdl.scratch.layers._common import check_tensor


class KNearestNeighbor:
    """The course's classifier: `train` memorizes, `predict` votes among the k nearest."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.x_train: torch.Tensor | None = None
        self.y_train: torch.Tensor | None = None

    def train(self, x: torch.Tensor, y: torch.Tensor) -> KNearestNeighbor:
        """Store (M, D) training points and their (M,) integer labels."""
        check_tensor(x, "KNearestNeighbor.train", "x")
        if x.ndim != 2:
            raise UserError(f"expected 2-D (M, D) training points, got shape {tuple(x.shape)}")
        _check_labels(x, y)
        self.x_train, self.y_train = x, y
        return self

    def _trained(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.x_train is None or self.y_train is None:
            raise UserError("KNearestNeighbor.predict called before train(x, y); train first")
        return self.x_train, self.y_train

    def compute_distances(
        self, x: torch.Tensor, metric: str = "l2", form: str = "no_loop"
    ) -> torch.Tensor:
        """(N, D) -> (N, M) distances to the stored training points."""
        return pairwise_distances(x, self._trained()[0], metric, form)

    def predict(
        self, x: torch.Tensor, k: int = 1, metric: str = "l2", tie: str = "nearest"
    ) -> torch.Tensor:
        """(N, D) -> (N,) predicted labels, memory-bounded by `self.max_bytes`; `tie` as in
        `majority_vote`."""
        x_train, y_train = self._trained()
        return knn_predict(x, x_train, y_train, k, metric, self.max_bytes, tie=tie)


@register_model("knn", "scratch-knn", options={})
def knn() -> KNearestNeighbor:
    """k-nearest neighbours on flattened inputs (memory-bounded distance blocks)."""
    return KNearestNeighbor()
