"""Checkpoints: atomic writes, safe loading (a crafted pickle must not run), clear errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.seeding import rng_state, set_rng_state


class _Evil:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_round_trip_with_rng_state(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {
        "model": {"w": torch.randn(3)},
        "epoch": 2,
        "rng": rng_state(),
        "history": [{"a": 1.0}],
    }
    path = tmp_path / "ckpt.pt"
    save_checkpoint(state, path)
    expected = torch.rand(4)
    back = load_checkpoint(path)
    set_rng_state(back["rng"])
    assert torch.equal(torch.rand(4), expected)
    assert back["epoch"] == 2 and torch.equal(back["model"]["w"], state["model"]["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_crafted_pickle_does_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "payload": _Evil(marker)}, path)
    with pytest.raises(UserError, match="refusing to load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"model": {"w": torch.randn(1000)}}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_missing_and_foreign_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a scratchdl checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_failed_save_keeps_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"model": {"v": torch.ones(2)}}, path)
    with pytest.raises((pickle.PicklingError, AttributeError)):  # an unpicklable object
        save_checkpoint({"model": {"v": torch.ones(2)}, "bad": lambda: 0}, path)  # unpicklable
    assert torch.equal(load_checkpoint(path)["model"]["v"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
