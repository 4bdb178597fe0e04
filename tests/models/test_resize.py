"""`data.image_size`: batches are resized on the fly, and a resized run reloads exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.models._resize import ResizeInput, build_for_data
from scratchdl.tasks._restore import load_trained_model
from tests.conftest import run_cli


def test_resize_input_equals_interpolate_then_net() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16, 3))
    x = torch.rand(5, 1, 8, 8)
    expected = net(F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False))
    assert torch.equal(ResizeInput(net, (16, 16))(x), expected)
    same = torch.rand(2, 1, 16, 16)  # already the right size: passed through untouched
    assert torch.equal(ResizeInput(net, (16, 16))(same), net(same))


def test_build_for_data_native_size_is_unwrapped() -> None:
    cfg = {"name": "lenet"}
    native = build_for_data(cfg, in_channels=1, num_classes=10, native_size=(28, 28))
    same = build_for_data(cfg, in_channels=1, num_classes=10, native_size=(28, 28), image_size=28)
    assert not isinstance(native, ResizeInput) and not isinstance(same, ResizeInput)
    big = build_for_data(cfg, in_channels=1, num_classes=10, native_size=(28, 28), image_size=56)
    assert isinstance(big, ResizeInput)
    assert big(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(UserError, match="image_size"):
        build_for_data(cfg, in_channels=1, num_classes=10, native_size=(28, 28), image_size=-1)


def test_resized_run_trains_and_reloads(tiny_recipe: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", str(tiny_recipe), "--epochs", "1", "--quiet", "--json", "--out", str(out)]
    proc = run_cli(*args, "--set", "data.image_size=12", check=True)
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    model, cfg, splits = load_trained_model(out)
    assert cfg["data"]["image_size"] == 12 and isinstance(model, ResizeInput)
    with torch.no_grad():
        acc = (model(splits.test.x).argmax(1) == splits.test.y).double().mean().item()
    assert acc == pytest.approx(final["test_accuracy"], abs=1e-12)
