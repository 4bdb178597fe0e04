"""Classification losses as layers: softmax cross-entropy and the multiclass SVM (hinge).

forward(scores (N, C), y (N,) int64 labels) -> (scalar loss averaged over N, cache);
backward(dloss, cache) -> dscores (N, C). `softmax_loss` / `svm_loss` return (loss, dscores)
in one call, as in the course.
"""

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.layers._common import Cache, tensor_layer


def check_scores_labels(scores: Tensor, y: Tensor, name: str) -> None:
    """Raise UserError unless scores is (N, C) float and y is (N,) int labels in [0, C)."""
    if scores.dim() != 2 or y.shape != (scores.shape[0],):
        raise UserError(
            f"{name}: expected scores (N, C) and labels (N,), got {tuple(scores.shape)} and "
            f"{tuple(y.shape)}"
        )
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise UserError(f"{name}: expected integer class labels, got dtype {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= scores.shape[1]):
        raise UserError(
            f"{name}: labels must be in [0, {scores.shape[1]}), got range "
            f"[{int(y.min())}, {int(y.max())}]"
        )


@tensor_layer
class SoftmaxCrossEntropy:
    """loss = mean_i( -log softmax(scores_i)[y_i] ), same as F.cross_entropy(scores, y)."""

    @staticmethod
    def forward(scores: Tensor, y: Tensor) -> tuple[Tensor, Cache]:
        check_scores_labels(scores, y, "SoftmaxCrossEntropy")
        shifted = scores - scores.max(dim=1, keepdim=True).values  # exp can't overflow
        log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
        y = y.long()
        n = scores.shape[0]
        loss = -log_probs[torch.arange(n, device=y.device), y].mean()
        return loss, (log_probs, y)

    @staticmethod
    def backward(dloss: float | Tensor, cache: Cache) -> Tensor:
        """d loss / d scores = (softmax - one_hot(y)) / N, times the upstream dloss."""
        log_probs, y = cache
        n = log_probs.shape[0]
        dscores = log_probs.exp()
        dscores[torch.arange(n, device=y.device), y] -= 1
        return dscores * (dloss / n)


@tensor_layer
class MulticlassSVM:
    """loss = mean_i sum_{j != y_i} max(0, scores_ij - scores_iy_i + margin), the course's
    hinge loss. F.multi_margin_loss divides the inner sum by C as well: this is C times it."""

    @staticmethod
    def forward(scores: Tensor, y: Tensor, margin: float = 1.0) -> tuple[Tensor, Cache]:
        check_scores_labels(scores, y, "MulticlassSVM")
        n = scores.shape[0]
        rows, y = torch.arange(n, device=y.device), y.long()
        correct = scores[rows, y].unsqueeze(1)
        margins = (scores - correct + margin).clamp_min(0)
        margins[rows, y] = 0  # the correct class does not compete with itself
        return margins.sum() / n, (margins > 0, y, scores.dtype)

    @staticmethod
    def backward(dloss: float | Tensor, cache: Cache) -> Tensor:
        """Each violated margin adds +1 to its class and -1 to the correct class, over N."""
        violated, y, dtype = cache
        n = violated.shape[0]
        dscores = violated.to(dtype)
        dscores[torch.arange(n, device=y.device), y] = -dscores.sum(dim=1)
        return dscores * (dloss / n)


def softmax_loss(scores: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(loss, dscores) of softmax cross-entropy in one call."""
    loss, cache = SoftmaxCrossEntropy.forward(scores, y)
    return loss, SoftmaxCrossEntropy.backward(1.0, cache)


def svm_loss(scores: Tensor, y: Tensor, margin: float = 1.0) -> tuple[Tensor, Tensor]:
    """(loss, dscores) of the multiclass SVM loss in one call."""
    loss, cache = MulticlassSVM.forward(scores, y, margin)
    return loss, MulticlassSVM.backward(1.0, cache)
