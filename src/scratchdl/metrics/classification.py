"""Pluggable epoch metrics: each accumulates sums over batches, then reports a float.

Sums (not means) are accumulated so results are exact for any batch split and can be
all-reduced across processes.
"""

from __future__ import annotations

import difflib

import torch

from scratchdl.errors import UserError


class Metric:
    """Accumulate (numerator, count) over batches."""

    name = "metric"

    def __init__(self) -> None:
        self.total = torch.zeros(2, dtype=torch.float64)

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        return float(self.total[0] / self.total[1]) if self.total[1] > 0 else float("nan")


class Loss(Metric):
    name = "loss"

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        n = target.shape[0]
        self.total += torch.tensor([float(loss) * n, n], dtype=torch.float64)


class Accuracy(Metric):
    name = "accuracy"

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        correct = (logits.argmax(dim=1) == target).sum().item()
        self.total += torch.tensor([correct, target.shape[0]], dtype=torch.float64)


class TopKAccuracy(Metric):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.name = f"top{k}_accuracy"

    def update(self, logits: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> None:
        k = min(self.k, logits.shape[1])
        hit = (logits.topk(k, dim=1).indices == target[:, None]).any(dim=1).sum().item()
        self.total += torch.tensor([hit, target.shape[0]], dtype=torch.float64)


METRICS = {
    "loss": Loss,
    "accuracy": Accuracy,
    "top5_accuracy": lambda: TopKAccuracy(5),
}


def make_metrics(names: list[str]) -> list[Metric]:
    """Loss is always tracked; `names` adds more from METRICS."""
    out: list[Metric] = [Loss()]
    for name in names:
        if name == "loss":
            continue
        if name not in METRICS:
            close = difflib.get_close_matches(name, METRICS, n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"unknown metric {name!r}{hint} (known: {', '.join(METRICS)})")
        out.append(METRICS[name]())
    return out
