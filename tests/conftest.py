"""Shared fixtures: an isolated runs folder per test and a tiny recipe on sklearn digits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Tests use tiny models, where a second intra-op thread only adds synchronisation cost
# (and on a loaded 2-core machine, a lot of it). Subprocesses get the same setting.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_RECIPE = """
description = "tiny MLP on sklearn digits, for tests"

[data]
dataset = "digits"
val_size = 200
batch_size = 64
eval_batch_size = 256

[model]
name = "mlp"
hidden = [32]
dropout = 0.2

[optimizer]
name = "adam"
lr = 0.01

[schedule]
name = "cosine"
warmup_epochs = 0.5

[train]
epochs = 4
seed = 3

[target]
metric = "test_accuracy"
value = 0.9
source = "test fixture"
"""


@pytest.fixture(autouse=True)
def isolated_runs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own $SCRATCHDL_RUNS so the store never leaks between tests."""
    root = tmp_path_factory.mktemp("runs")
    monkeypatch.setenv("SCRATCHDL_RUNS", str(root))
    return root


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-digits.toml"
    path.write_text(TINY_RECIPE)
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess:
    """Run `python -m scratchdl ARGS` in a fresh process (as a user would)."""
    full_env = {**os.environ, "PYTHONHASHSEED": "0", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "scratchdl", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"scratchdl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc
