"""The from-scratch recipes run end to end (on sklearn digits, for speed) and resume exactly."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.store import RunStore
from scratchdl.runner import run_recipe
from tests.conftest import run_cli

DIGITS = ["data.dataset=digits", "data.val_size=200"]
SCRATCH_RECIPES = [
    "knn-fmnist",
    "svm-fmnist",
    "softmax-scratch-fmnist",
    "twolayer-scratch-fmnist",
    "convnet-scratch-fmnist",
]


@pytest.mark.parametrize("recipe", SCRATCH_RECIPES)
def test_scratch_recipe_runs_on_digits(recipe: str, tmp_path: Path) -> None:
    cfg = load_recipe(recipe, DIGITS[:1] if recipe == "knn-fmnist" else DIGITS)
    cfg["train"]["epochs"] = min(cfg["train"]["epochs"], 2)
    if recipe == "knn-fmnist":
        cfg["knn"]["ks"] = [1, 3, 5]
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    # digits is easy: every from-scratch model should be well above chance (0.1).
    assert summary["test_accuracy"] > 0.6, summary
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == cfg["train"]["epochs"]
    assert RunStore().get_run(summary["run_id"])["status"] == "completed"


def test_knn_records_cross_validated_k(tmp_path: Path) -> None:
    cfg = load_recipe("knn-fmnist", [DIGITS[0], "knn.ks=[1, 3]"])
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    final = summary["final"]
    best = final["best_k"]
    assert best in (1, 3)
    assert final[f"cv_accuracy_k{best}"] == max(final["cv_accuracy_k1"], final["cv_accuracy_k3"])


def test_scratch_model_options_are_checked() -> None:
    with pytest.raises(UserError, match="unknown key"):
        load_recipe("convnet-scratch-fmnist", ["model.hidden=[3]"])
    cfg = load_recipe("twolayer-scratch-fmnist", ["model.hidden_dim=7"])
    assert cfg["model"]["hidden_dim"] == 7


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["convnet-scratch-fmnist", "svm-fmnist"])
def test_scratch_recipe_resumes_exactly_after_sigkill(recipe: str, tmp_path: Path) -> None:
    args = [recipe, "--epochs", "3", "--json"]
    for item in DIGITS:
        args += ["--set", item]
    full = run_cli("run", *args, "--out", str(tmp_path / "full"), check=True)
    killed = run_cli(
        "run", *args, "--out", str(tmp_path / "cut"), env={"SCRATCHDL_KILL_AFTER_EPOCH": "1"}
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = run_cli("run", "--resume", str(tmp_path / "cut"), "--json", check=True)
    a = json.loads(full.stdout.strip().splitlines()[-1])
    b = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert a["test_accuracy"] == b["test_accuracy"]
    assert a["final"]["train_loss"] == b["final"]["train_loss"]
    assert a["final"]["val_accuracy"] == b["final"]["val_accuracy"]
