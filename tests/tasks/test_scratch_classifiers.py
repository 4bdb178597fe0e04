"""The from-scratch recipes run end to end (on sklearn digits, for speed) and resume exactly."""

from __future__ import annotations

import inspect
import json
import math
import signal
from pathlib import Path

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.store import RunStore
from scratchdl.train.checkpoint import load_checkpoint
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
    acc1, acc3 = final["cv_accuracy_k1"], final["cv_accuracy_k3"]
    assert 0.9 < min(acc1, acc3) <= 1  # digits: both candidates cross-validate well
    # the best mean fold accuracy wins; a tie goes to the smaller k
    assert final["best_k"] == (1 if acc1 >= acc3 else 3)


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


def test_net_scratch_checkpoint_holds_net_state_and_resumes_exactly(tmp_path: Path) -> None:
    """Params, batch-norm statistics and the dropout generator live in modules.model; a run
    stopped after epoch 1 and continued to 2 ends equal to a 2-epoch run."""
    sets = [
        *DIGITS,
        "model.name=fcnet",
        "model.hidden_dims=[16]",
        "model.normalization=batchnorm",
        "model.dropout=0.3",
        "schedule.name=none",  # the schedule's length would change with train.epochs
    ]
    cfg = load_recipe("twolayer-scratch-fmnist", sets)
    cfg["train"]["epochs"] = 2
    full = run_recipe(cfg, out=tmp_path / "full", quiet=True)
    cfg["train"]["epochs"] = 1
    run_recipe(cfg, out=tmp_path / "cut", quiet=True)
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    model = state["modules"]["model"]
    assert {"params.W1", "params.gamma1", "stats.running_mean1", "_extra_state"} <= set(model)
    assert model["_extra_state"]["generator"].dtype == torch.uint8  # the net's own RNG
    assert state["optimizers"]["main"]["state"]  # Adam's moments, from the DictOptimizer
    cfg["train"]["epochs"] = 2
    resumed = run_recipe(cfg, resume=tmp_path / "cut", quiet=True)
    for key in ("train_loss", "val_accuracy", "test_accuracy"):
        assert full["final"][key] == resumed["final"][key], key
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["modules"]["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["modules"]["model"]
    for key in a:
        if key != "_extra_state":
            assert torch.equal(a[key], b[key]), key


def test_linear_scratch_schedule_steps_per_batch(tmp_path: Path) -> None:
    cfg = load_recipe("svm-fmnist", DIGITS)  # cosine over the run, optimizer.lr 0.005
    cfg["train"]["epochs"] = 2
    summary = run_recipe(cfg, out=tmp_path / "run", quiet=True)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    total = state["schedulers"]["main"]["last_epoch"]  # one step per batch
    steps = total // 2
    assert steps == math.ceil((1797 - 200 - 360) / 256)  # digits train split, batch 256
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # the lr logged for an epoch is the one its last step used: step s of 2*steps, cosine
    for row, s in zip(rows, (steps - 1, 2 * steps - 1), strict=True):
        assert row["lr"] == pytest.approx(0.005 * 0.5 * (1 + math.cos(math.pi * s / total)))
    assert 0.0 < summary["final"]["train_accuracy"] <= 1.0
    assert summary["final"]["parameters"] == (64 + 1) * 10  # W with the bias row


def test_knn_tie_rule_is_passed_when_the_library_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scratchdl.scratch import knn as knn_lib

    seen: list[str] = []
    if "tie" not in inspect.signature(knn_lib.knn_predict).parameters:
        with pytest.raises(UserError, match="knn.tie='smallest'"):
            run_recipe(
                load_recipe("knn-fmnist", [DIGITS[0], "knn.tie=smallest"]),
                out=tmp_path / "old",
                quiet=True,
            )
        real_cv, real_predict = knn_lib.cross_validate_k, knn_lib.knn_predict

        def cv(*args, tie: str = "nearest", **kw):
            seen.append(tie)
            return real_cv(*args, **kw)

        def predict(*args, tie: str = "nearest", **kw):
            seen.append(tie)
            return real_predict(*args, **kw)

        monkeypatch.setattr(knn_lib, "cross_validate_k", cv)
        monkeypatch.setattr(knn_lib, "knn_predict", predict)
    cfg = load_recipe("knn-fmnist", [DIGITS[0], "knn.ks=[1]", "knn.tie=smallest"])
    assert run_recipe(cfg, out=tmp_path / "run", quiet=True)["test_accuracy"] > 0.9
    if seen:
        assert seen == ["smallest", "smallest"]
    with pytest.raises(UserError, match="knn.tie must be one of nearest, smallest"):
        run_recipe(load_recipe("knn-fmnist", [DIGITS[0], "knn.tie=largest"]), out=tmp_path / "bad")


def test_scratch_tasks_reject_what_they_cannot_honour(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="train.epochs must be 1"):
        run_recipe(load_recipe("knn-fmnist", [DIGITS[0], "train.epochs=2"]), out=tmp_path / "a")
    with pytest.raises(UserError, match="no_decay_bias_norm must be false"):
        run_recipe(
            load_recipe("twolayer-scratch-fmnist", [*DIGITS, "optimizer.no_decay_bias_norm=true"]),
            out=tmp_path / "b",
        )
    with pytest.raises(UserError, match="train.amp must be 'none'"):
        run_recipe(load_recipe("svm-fmnist", [*DIGITS, "train.amp=bf16"]), out=tmp_path / "c")
    with pytest.raises(UserError, match="of kind image-classifier"):
        load_recipe("twolayer-scratch-fmnist", ["model.name=mlp"])
