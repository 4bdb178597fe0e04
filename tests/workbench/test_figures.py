"""Report figures: overlaid curves and the confusion matrix of a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scratchdl.errors import UserError
from scratchdl.workbench.figures import confusion_figure, curves_overlay
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict]]:
    from tests.conftest import TINY_RECIPE

    root = tmp_path_factory.mktemp("fig")
    recipe = root / "tiny-digits.toml"
    recipe.write_text(TINY_RECIPE)
    out = []
    for name, extra in (("a", []), ("b", ["--set", "model.hidden=[64]"])):
        proc = run_cli(
            "run",
            str(recipe),
            "--out",
            str(root / name),
            "--epochs",
            "2",
            "--json",
            *extra,
            env={"SCRATCHDL_RUNS": str(root / "store")},
            check=True,
        )
        out.append((root / name, json.loads(proc.stdout.strip().splitlines()[-1])))
    return out


def test_confusion_matrix_counts_every_test_image(two_runs, tmp_path: Path) -> None:
    run_dir, summary = two_runs[0]
    counts, paths = confusion_figure(run_dir, tmp_path / "cm")
    assert counts.shape == (10, 10)
    assert counts.sum().item() == 360  # the digits test split
    assert counts.diag().sum().item() / 360 == pytest.approx(summary["test_accuracy"], abs=1e-12)
    assert all(p.stat().st_size > 0 for p in paths)


def test_curves_overlay_writes_png_and_pdf(two_runs, tmp_path: Path) -> None:
    paths = curves_overlay([d for d, _ in two_runs], "val_accuracy", tmp_path / "curves")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    with pytest.raises(UserError, match="no 'val_bleu' per epoch"):
        curves_overlay([two_runs[0][0]], "val_bleu", tmp_path / "x")
    with pytest.raises(UserError, match="no metrics.jsonl"):
        curves_overlay([tmp_path], "val_accuracy", tmp_path / "y")


def test_ensemble_averages_member_probabilities(two_runs) -> None:
    import torch

    from scratchdl.tasks._restore import load_trained_model
    from scratchdl.workbench.ensemble import ensemble

    dirs = [d for d, _ in two_runs]
    result = ensemble(dirs)
    assert [m["accuracy"] for m in result["members"]] == pytest.approx(
        [s["test_accuracy"] for _, s in two_runs], abs=1e-12
    )
    probs, labels = 0, None
    for d in dirs:  # the same average, by hand
        model, _, splits = load_trained_model(d)
        with torch.no_grad():
            probs = probs + model(splits.test.x).softmax(1)
        labels = splits.test.y
    by_hand = (probs.argmax(1) == labels).double().mean().item()
    assert result["ensemble_accuracy"] == pytest.approx(by_hand, abs=1e-12)
    assert result["gain"] == pytest.approx(by_hand - max(m["accuracy"] for m in result["members"]))
    with pytest.raises(UserError, match="at least 2"):
        ensemble(dirs[:1])
