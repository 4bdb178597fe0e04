"""Engine logging: Task.log_per_token weights each batch's train_* metrics by its tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from scratchdl.config import deep_merge
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo, Task

# two batches: 1 example of 3 tokens with loss value 1, then 3 examples of 1 token with value 5
BATCHES = [(torch.ones(1, 3), torch.tensor(1.0)), (torch.ones(3, 1), torch.tensor(5.0))]


class Toy(Task):
    name = "toy"

    def setup(self) -> None:
        self.model = torch.nn.Linear(1, 1)

    def steps_per_epoch(self) -> int:
        return 2

    def train_batches(self, epoch: int):
        return iter(BATCHES)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, value = batch
        # value as the loss's number, a zero-size contribution from the model for autograd
        return {"loss": value + 0 * self.model.weight.sum()}

    def batch_size(self, batch: Any) -> tuple[int, int]:
        return int(batch[0].shape[0]), int(batch[0].numel())


class TokenToy(Toy):
    log_per_token = True


@pytest.mark.parametrize(("cls", "want"), [(Toy, (1 * 1 + 3 * 5) / 4), (TokenToy, (3 + 3 * 5) / 6)])
def test_train_metrics_are_weighted_by_examples_or_tokens(
    cls: type[Task], want: float, tmp_path: Path
) -> None:
    cfg = deep_merge(DEFAULTS, {"train": {"epochs": 1, "device": "cpu"}})
    engine = Engine(cls(cfg, RunInfo(tmp_path)), show_progress=False)
    engine.fit()
    row = engine.history[0]
    assert row["train_loss"] == pytest.approx(want, rel=1e-12)
    assert row["examples_per_s"] > 0 and row["tokens_per_s"] > 0
