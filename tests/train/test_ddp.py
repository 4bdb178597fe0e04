"""Data parallelism on CPU (gloo), through `scratchdl run --nproc 2`.

Equivalence: 2 processes with per-process batch b take the same optimizer steps as 1 process
with batch 2b, because each rank's strided shard of the epoch permutation holds exactly the
examples of the 1-process batch and DDP averages the two ranks' mean gradients. Dropout is
off (its masks would be drawn per process). Tolerance: float32 sums in a different order,
so parameters agree to 1e-5 after two epochs (24 steps), not bit for bit.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from scratchdl.store import RunStore
from tests.conftest import run_cli

# digits: 1797 images, 360 test; val 213 leaves 1224 = 12 x 102 training images, so every
# batch is full in both layouts (a short last batch would be padded differently).
COMMON = ["--set", "data.val_size=213", "--set", "model.dropout=0.0", "--epochs", "2"]
TIMING = {"epoch_seconds", "examples_per_s"}


def _params(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["modules"]["model"]


def _rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


@pytest.mark.slow
def test_two_processes_equal_one_with_twice_the_batch(tiny_recipe: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli("run", str(tiny_recipe), *COMMON, "--set", "data.batch_size=102",
            "--out", str(one), "--quiet", check=True)  # fmt: skip
    run_cli("run", str(tiny_recipe), *COMMON, "--set", "data.batch_size=51", "--nproc", "2",
            "--out", str(two), "--quiet", check=True)  # fmt: skip
    a, b = _params(one), _params(two)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)
    # the logged training loss is all-reduced over both ranks: the same mean
    ra, rb = _rows(one), _rows(two)
    for x, y in zip(ra, rb, strict=True):
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-5)
        assert x["val_accuracy"] == pytest.approx(y["val_accuracy"], abs=1 / 213 + 1e-9)
    assert json.loads((two / "meta.json").read_text())["run_id"]  # rank 0 wrote the run dir
    rows = RunStore().runs()
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}  # one row per run


@pytest.mark.slow
def test_killed_ddp_run_resumes_equal_to_uninterrupted(tiny_recipe: Path, tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    args = [str(tiny_recipe), *COMMON, "--epochs", "3", "--set", "data.batch_size=51"]
    run_cli("run", *args, "--nproc", "2", "--out", str(full), "--quiet", check=True)
    killed = run_cli(
        "run", *args, "--nproc", "2", "--out", str(cut), "--quiet",
        env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"},
    )  # fmt: skip
    assert killed.returncode != 0
    assert len(_rows(cut)) == 1
    run_cli("run", "--resume", str(cut), "--nproc", "2", "--quiet", check=True)
    assert _rows(cut) == _rows(full)
    a, b = _params(full), _params(cut)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_a_dying_rank_fails_the_run_without_hanging(tiny_recipe: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "run", str(tiny_recipe), *COMMON, "--set", "data.batch_size=51", "--nproc", "2",
        "--out", str(tmp_path / "r"), "--quiet",
        env={"SCRATCHDL_KILL_AFTER_EPOCH": "1", "SCRATCHDL_KILL_RANK": "1"},
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL or proc.returncode != 0
    (row,) = RunStore().runs()
    assert row["status"] == "failed"


def test_nproc_on_a_single_process_task_is_refused(tmp_path: Path) -> None:
    proc = run_cli("run", "knn-fmnist", "--nproc", "2", "--out", str(tmp_path / "k"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "drop --nproc" in proc.stderr
    assert not (tmp_path / "k").exists()
