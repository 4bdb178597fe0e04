"""train.channels_last: NHWC memory format changes speed, not what is learned."""

from __future__ import annotations

import torch
from scratchdl.train.trainer import Trainer, TrainerConfig
from torch import nn

from scratchdl.data import TensorLoader


def train_once(channels_last: bool) -> tuple[nn.Module, list[dict[str, float]]]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, groups=8, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip
    x, y = torch.randn(64, 3, 10, 10), torch.randint(0, 4, (64,))
    loader = TensorLoader(x, y, 16, shuffle=True, seed=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    cfg = TrainerConfig(epochs=2, show_progress=False, channels_last=channels_last)
    trainer = Trainer(
        model,
        optimizer,
        None,
        loader,
        {"val": TensorLoader(x, y, 32)},
        cfg,
        device=torch.device("cpu"),
    )
    trainer.fit()
    return model, trainer.history


def test_channels_last_matches_contiguous_training() -> None:
    plain, plain_hist = train_once(False)
    nhwc, nhwc_hist = train_once(True)
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.state_dict().values(), nhwc.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # float32 summation order only
    for a, b in zip(plain_hist, nhwc_hist, strict=True):
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-4
