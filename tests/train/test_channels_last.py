"""train.channels_last: NHWC memory format changes speed, not what is learned."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from scratchdl.config import deep_merge
from scratchdl.data import TensorLoader
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.train.engine import Engine
from scratchdl.train.task import RunInfo, Task


class TinyImages(Task):
    name = "tiny-images"
    supports_channels_last = True

    def setup(self) -> None:
        self.model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, groups=8, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
        )  # fmt: skip
        self.x, self.y = torch.randn(64, 3, 10, 10), torch.randint(0, 4, (64,))
        self.loader = TensorLoader(self.x, self.y, 16, shuffle=True, seed=1)
        self.seen_nhwc: list[bool] = []

    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def train_batches(self, epoch: int):
        self.loader.set_epoch(epoch)
        return iter(self.loader)

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        x, y = batch
        self.seen_nhwc.append(x.is_contiguous(memory_format=torch.channels_last))
        return {"loss": F.cross_entropy(self.model(x), y)}

    def evaluate(self, split: str) -> dict[str, float]:
        return {"loss": F.cross_entropy(self.model(self.x), self.y).item()}


def train_once(channels_last: bool) -> tuple[TinyImages, list[dict[str, float]]]:
    cfg = deep_merge(DEFAULTS, {})
    cfg["optimizer"].update(name="sgd", lr=0.1)
    cfg["train"].update(epochs=2, seed=0, device="cpu", channels_last=channels_last)
    task = TinyImages(cfg, RunInfo("."))
    engine = Engine(task, show_progress=False)
    engine.fit()
    return task, engine.history


def test_channels_last_matches_contiguous_training() -> None:
    plain, plain_hist = train_once(False)
    nhwc, nhwc_hist = train_once(True)
    assert nhwc.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert all(nhwc.seen_nhwc) and not any(plain.seen_nhwc)  # batches arrive NHWC
    for a, b in zip(
        plain.model.state_dict().values(), nhwc.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # float32 summation order only
    for a, b in zip(plain_hist, nhwc_hist, strict=True):
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-4
