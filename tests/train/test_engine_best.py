"""train.best (test the epoch validation chose) and train.patience (early stopping), on a
toy task whose validation metric follows a script, so the chosen epoch is known by hand."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch

from scratchdl.config import deep_merge
from scratchdl.errors import UserError
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.train.best import BestTracker, best_mode, check_best_config
from scratchdl.train.checkpoint import load_checkpoint
from scratchdl.train.engine import Engine, check_capabilities
from scratchdl.train.task import RunInfo
from tests.train.test_engine import Regress

# val_mse of epochs 1..6: best at epoch 2, stalls for 2 epochs at epoch 4
SCRIPT = [3.0, 1.0, 2.0, 2.5, 0.5, 0.1]


class Scripted(Regress):
    """Trains like Regress; its validation metric is SCRIPT's, its test reads the weights."""

    name = "toy-scripted"
    script = SCRIPT

    def evaluate(self, split: str) -> dict[str, float]:
        return {"mse": self.script[len(self.engine.history)]}

    def test(self) -> dict[str, float]:
        return {"test_weight": self.model.weight.detach().clone()}


def _cfg(**train: Any) -> dict[str, Any]:
    cfg = deep_merge(DEFAULTS, {"data": {"n": 64, "batch_size": 8, "dtype": "float64"}})
    cfg["optimizer"].update(name="sgd", lr=0.05)
    cfg["train"].update({"epochs": 6, "seed": 5, "device": "cpu", "best": "val_mse", **train})
    return cfg


def _engine(cfg: dict[str, Any], path=None, on_epoch_end=None) -> tuple[Engine, list]:
    """An engine for Scripted that also keeps a copy of the weights after every epoch."""
    task = Scripted(copy.deepcopy(cfg), RunInfo(path or ".", quiet=True))
    weights: list[torch.Tensor] = []

    def hook(epoch: int, row: dict) -> None:
        weights.append(task.model.weight.detach().clone())
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)

    ckpt = path / "checkpoint.pt" if path else None
    return Engine(task, checkpoint_path=ckpt, on_epoch_end=hook, show_progress=False), weights


def _strip(rows: list[dict]) -> list[dict]:
    timing = ("epoch_seconds", "examples_per_s")
    return [{k: v for k, v in r.items() if k not in timing} for r in rows]


def test_the_test_scores_the_best_validation_epoch_and_training_runs_to_the_end() -> None:
    engine, weights = _engine(_cfg(best_mode="auto", patience=0))
    final = engine.fit()
    assert len(engine.history) == 6  # no patience: every epoch trains
    assert final["best_epoch"] == 6 and final["val_mse"] == 0.1
    assert torch.equal(final["test_weight"], weights[5])


def test_a_best_epoch_in_the_middle_is_restored_before_the_test() -> None:
    Scripted.script = [3.0, 1.0, 2.0, 2.5, 1.5, 1.2]
    try:
        engine, weights = _engine(_cfg())
        final = engine.fit()
    finally:
        Scripted.script = SCRIPT
    assert len(engine.history) == 6 and final["best_epoch"] == 2
    assert final["val_mse"] == 1.0  # the phase's row is the chosen epoch's row
    assert final["train_loss"] == engine.history[1]["train_loss"]
    assert torch.equal(final["test_weight"], weights[1])
    assert not torch.equal(weights[1], weights[5])  # training did move on after epoch 2
    assert "stopped_epoch" not in final


def test_patience_stops_the_phase_when_validation_stalls() -> None:
    engine, weights = _engine(_cfg(patience=2))
    final = engine.fit()
    # best 1.0 at epoch 2; epochs 3 and 4 are no better: stop after epoch 4
    assert len(engine.history) == 4
    assert (final["best_epoch"], final["stopped_epoch"]) == (2, 4)
    assert torch.equal(final["test_weight"], weights[1])


def test_without_train_best_the_last_epoch_is_tested() -> None:
    engine, weights = _engine(_cfg(best=""))
    final = engine.fit()
    assert len(engine.history) == 6 and "best_epoch" not in final
    assert torch.equal(final["test_weight"], weights[5])


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_a_killed_run_resumes_to_the_same_best_epoch_and_stop(tmp_path, kill_after: int) -> None:
    full, full_weights = _engine(_cfg(patience=2), tmp_path / "full")
    expected = full.fit()

    def killed(epoch: int, row: dict) -> None:
        if epoch == kill_after:
            raise KeyboardInterrupt

    cut, _ = _engine(_cfg(patience=2), tmp_path / "cut", on_epoch_end=killed)
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    resumed, _ = _engine(_cfg(patience=2), tmp_path / "cut")
    final = resumed.fit(resume=True)
    assert _strip(resumed.history) == _strip(full.history)
    assert (final["best_epoch"], final["stopped_epoch"]) == (2, 4)
    assert torch.equal(final["test_weight"], expected["test_weight"])
    assert torch.equal(final["test_weight"], full_weights[1])


def test_checkpoint_holds_the_tested_weights_and_the_last_ones(tmp_path) -> None:
    engine, weights = _engine(_cfg(patience=2), tmp_path)
    engine.fit()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert torch.equal(state["modules"]["model"]["weight"], weights[1])  # what sample/explain load
    assert torch.equal(state["last_modules"]["model"]["weight"], weights[3])
    assert state["stopped_early"] is True
    best = state["best"]  # kept in the same atomic file as the training state
    assert (best["phase"], best["epoch"]) == (0, 2)
    assert torch.equal(best["modules"]["model"]["weight"], weights[1])


def test_extending_a_finished_run_goes_on_from_the_last_weights(tmp_path) -> None:
    """--resume --epochs more continues training from the last epoch, not the best one,
    so it equals a run that was longer from the start."""
    Scripted.script = [3.0, 1.0, 2.0, 2.5, 1.5, 0.5]
    try:
        longer, long_weights = _engine(_cfg(epochs=6), tmp_path / "long")
        expected = longer.fit()
        short, _ = _engine(_cfg(epochs=4), tmp_path / "ext")
        assert short.fit()["best_epoch"] == 2
        extended, _ = _engine(_cfg(epochs=6), tmp_path / "ext")
        final = extended.fit(resume=True)
    finally:
        Scripted.script = SCRIPT
    assert _strip(extended.history) == _strip(longer.history)
    assert final["best_epoch"] == expected["best_epoch"] == 6
    assert torch.equal(final["test_weight"], long_weights[5])


def test_resuming_an_early_stopped_run_with_more_epochs_trains_no_further(tmp_path) -> None:
    first, _ = _engine(_cfg(patience=2), tmp_path)
    first.fit()
    again, _ = _engine(_cfg(patience=2, epochs=9), tmp_path)
    final = again.fit(resume=True)
    assert len(again.history) == 4 and final["stopped_epoch"] == 4


def test_resuming_with_another_train_best_is_refused(tmp_path) -> None:
    """The checkpoint keeps the best weights of the metric it was trained with only."""
    first, _ = _engine(_cfg(epochs=3, best=""), tmp_path)
    first.fit()
    again, _ = _engine(_cfg(epochs=5), tmp_path)
    with pytest.raises(UserError, match=r"does not hold the weights of epoch 2.*start a new run"):
        again.fit(resume=True)


def test_a_metric_the_task_does_not_log_names_the_ones_it_does() -> None:
    engine, _ = _engine(_cfg(best="val_accuracy"))
    with pytest.raises(UserError, match=r"val_accuracy.*not a metric.*val_mse"):
        engine.fit()


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"patience": 3}, r"train.patience needs a metric.*train.best"),
        ({"best": "test_loss"}, r"expected a validation metric"),
        ({"best": "val_mse", "patience": -1}, r"train.patience must be an integer >= 0"),
        ({"best": "val_mse", "best_mode": "lowest"}, r"train.best_mode must be one of"),
        ({"best": "val_wiggle"}, r"cannot tell whether lower or higher.*best_mode"),
    ],
)
def test_bad_settings_are_refused_before_a_run(train: dict, message: str) -> None:
    train_cfg = {**DEFAULTS["train"], **train}
    with pytest.raises(UserError, match=message):
        check_capabilities(Scripted, train_cfg)
    check_capabilities(
        Scripted, {**train_cfg, "best": "val_mse", "best_mode": "min", "patience": 1}
    )


def test_best_mode_reads_the_metric_name() -> None:
    assert best_mode("val_loss") == best_mode("val_perplexity") == best_mode("val_fd") == "min"
    assert best_mode("val_accuracy") == best_mode("val_bleu") == best_mode("val_map50") == "max"
    assert best_mode("val_wiggle", "max") == "max"
    check_best_config({"best": "", "patience": 0})


def test_tracker_by_hand_with_ties_and_nan() -> None:
    t = BestTracker("val_accuracy", patience=2)
    rows = [0.5, math.nan, 0.7, 0.7, 0.6]  # a tie is not an improvement; NaN never is
    improved = [t.update(i, {"val_accuracy": v}) for i, v in enumerate(rows, 1)]
    assert improved == [True, False, True, False, False]
    assert (t.best_epoch, t.best_value, t.should_stop()) == (3, 0.7, True)
    rebuilt = BestTracker.from_rows("val_accuracy", "auto", 2, [{"val_accuracy": v} for v in rows])
    assert (rebuilt.best_epoch, rebuilt.last_epoch) == (3, 5)
