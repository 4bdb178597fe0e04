"""TensorBoard event files: live with train.tensorboard = true, and exported afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore
from tests.conftest import run_cli


def _events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_live_event_files_hold_every_step_every_epoch_config_and_figures(
    tiny_recipe: Path, tmp_path: Path
) -> None:
    cfg = load_recipe(str(tiny_recipe), ["train.tensorboard=true", "train.epochs=2"])
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True, store=RunStore(tmp_path / "db"))
    run_dir = Path(summary["run_dir"])
    acc = _events(run_dir / "tensorboard")
    steps = acc.Scalars("step/train_loss")
    per_epoch = -(-(1797 - 360 - 200) // 64)  # digits: train split of 1237, batches of 64
    assert [e.step for e in steps] == list(range(2 * per_epoch))  # every optimizer step
    rows = _rows(run_dir)
    for key in ("train_loss", "val_accuracy", "lr"):
        logged = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [1, 2]
        assert [e.value for e in logged] == pytest.approx([r[key] for r in rows], rel=1e-6)
    # the epoch's train_loss is the example-weighted mean of its steps' losses
    first = [e.value for e in steps[:per_epoch]]
    assert min(first) <= rows[0]["train_loss"] <= max(first)
    assert "config" in "".join(acc.Tags()["tensors"])  # add_text is stored as a tensor
    assert "figures/curves" in acc.Tags()["images"]


def test_export_writes_epoch_scalars_of_a_stored_run(tiny_recipe: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_cli("run", str(tiny_recipe), "--epochs", "2", "--out", str(run_dir), "--quiet", check=True)
    assert not (run_dir / "tensorboard").exists()
    proc = run_cli("export", "tensorboard", str(run_dir), check=True)
    assert f"tensorboard --logdir {run_dir}" in proc.stdout
    acc = _events(run_dir / "tensorboard")
    logged = acc.Scalars("epoch/val_loss")
    assert [e.value for e in logged] == pytest.approx([r["val_loss"] for r in _rows(run_dir)])


def test_export_of_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path) -> None:
    proc = run_cli("export", "tensorboard", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"scratchdl: error: {tmp_path} is not a run directory (no config.toml): give a run's folder"
    )
