"""The workbench on any image classifier: robust, ensemble and report --confusion on a tiny
transfer run (EfficientNet-Lite0 on digits), a one-line error for other runs, and
report --curves with a default metric per kind of run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scratchdl.config import dumps_toml
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe
from scratchdl.tasks._restore import image_classifier_tasks, load_trained_model
from scratchdl.workbench.ensemble import ensemble
from scratchdl.workbench.figures import curves_overlay, run_confusion_matrix
from scratchdl.workbench.robust import robust
from tests.conftest import TINY_RECIPE, run_cli
from tests.tasks.test_transfer import RECIPE, TINY

FINETUNE = [*TINY, "transfer.mode=finetune", "target.metric=test_accuracy", "train.epochs=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """A tiny finetune transfer run and a tiny classify run, both on digits."""
    root = tmp_path_factory.mktemp("restore")
    transfer = run_recipe(load_recipe(RECIPE, FINETUNE), out=root / "transfer", quiet=True)
    recipe = root / "tiny-digits.toml"
    recipe.write_text(TINY_RECIPE)
    classify = run_recipe(
        load_recipe(str(recipe), ["train.epochs=1"]), out=root / "mlp", quiet=True
    )
    return {"transfer": (root / "transfer", transfer), "classify": (root / "mlp", classify)}


@pytest.mark.slow
def test_transfer_run_reloads_with_its_test_accuracy(runs) -> None:
    run_dir, summary = runs["transfer"]
    model, cfg, data = load_trained_model(run_dir)
    assert cfg["task"] == "transfer" and len(data.test) == 360
    assert data.info.mean == [0.0] and data.info.std == [1.0]  # pixels in [0, 1]
    with torch.no_grad():
        pred = torch.cat([model(data.test.x[i : i + 128]).argmax(1) for i in range(0, 360, 128)])
    acc = (pred == data.test.y).double().mean().item()
    assert acc == pytest.approx(summary["final"]["test_accuracy"], abs=1e-12)
    counts, classes = run_confusion_matrix(run_dir, batch_size=128)
    assert counts.sum() == 360 and counts.diag().sum().item() / 360 == pytest.approx(acc)
    assert len(classes) == 10


@pytest.mark.slow
def test_robust_and_ensemble_take_transfer_runs(runs, tmp_path: Path) -> None:
    run_dir, summary = runs["transfer"]
    result = robust(
        [run_dir], corruptions=["contrast"], severities=[5], out=tmp_path, batch_size=128
    )
    row = result["rows"][0]
    assert row["clean_accuracy"] == pytest.approx(summary["final"]["test_accuracy"], abs=1e-12)
    assert 0 <= row["accuracy"]["contrast"]["5"] <= 1
    mixed = ensemble([run_dir, runs["classify"][0]], batch_size=128)  # a transfer and an MLP
    accs = [m["accuracy"] for m in mixed["members"]]
    assert accs == pytest.approx(
        [summary["final"]["test_accuracy"], runs["classify"][1]["final"]["test_accuracy"]],
        abs=1e-12,
    )


@pytest.mark.slow
def test_report_confusion_cli_on_a_transfer_run(runs, tmp_path: Path) -> None:
    proc = run_cli("report", "--confusion", str(runs["transfer"][0]), "--figures", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "confusion.png").is_file()


def _fake_run(root: Path, recipe: str, rows: list[dict]) -> Path:
    """A run directory as `scratchdl run` leaves it (config, meta, metrics), without training."""
    root.mkdir(parents=True)
    cfg = (
        load_recipe(recipe)
        if recipe.startswith("seq2seq")
        else {"recipe": recipe, "task": "rnn-lm"}
    )
    (root / "config.toml").write_text(dumps_toml(cfg))
    (root / "meta.json").write_text(json.dumps({"run_id": root.name, "recipe": recipe}))
    (root / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_non_classifier_runs_are_a_one_line_error(tmp_path: Path) -> None:
    seq = _fake_run(tmp_path / "seq", "seq2seq-bible-en-es", [{"epoch": 1, "val_bleu": 1.0}])
    assert {"classify", "transfer"} <= set(image_classifier_tasks())
    assert "seq2seq" not in image_classifier_tasks()
    with pytest.raises(UserError, match="is a 'seq2seq' run, not an image classifier"):
        load_trained_model(seq)
    for args in (["robust", str(seq)], ["report", "--confusion", str(seq)]):
        proc = run_cli(*args, "--out" if args[0] == "robust" else "--figures", str(tmp_path / "o"))
        assert proc.returncode == 2 and "not an image classifier" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_curves_default_to_each_runs_own_metric(tmp_path: Path) -> None:
    seq = _fake_run(tmp_path / "seq", "seq2seq-bible-en-es", [{"epoch": 1, "val_bleu": 2.0}])
    lm = _fake_run(tmp_path / "lm", "gru-austen", [{"epoch": 1, "val_perplexity": 90.0}])
    paths = curves_overlay([seq, lm], None, tmp_path / "curves")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    with pytest.raises(UserError, match="no 'val_accuracy' per epoch"):  # asked for: no fallback
        curves_overlay([seq], "val_accuracy", tmp_path / "x")
    bare = _fake_run(tmp_path / "bare", "seq2seq-bible-en-es", [{"epoch": 1, "lr": 0.1}])
    with pytest.raises(UserError, match="--curve-metric"):
        curves_overlay([bare], None, tmp_path / "y")
    proc = run_cli("report", "--curves", str(seq), str(lm), "--figures", str(tmp_path / "cli"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli" / "curves-default.png").is_file()
