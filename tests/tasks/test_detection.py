"""The detect task through the runner: metrics, figures, bad input, learning on a tiny set."""

import json

import numpy as np
import pytest

from scratchdl.data.detection import DetectionArrays, DetectionSplit, ProceduralDetection
from scratchdl.errors import UserError
from scratchdl.recipes import load_recipe
from scratchdl.runner import run_recipe


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A 64-pixel, 2-class procedural set registered as 'tiny-det', cached under tmp_path."""
    from scratchdl.data.registry import _REGISTRY

    monkeypatch.setenv("SCRATCHDL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SCRATCHDL_RUNS", str(tmp_path / "runs"))
    spec = ProceduralDetection("tiny-det", "test", ["square", "circle"], size=64,
                               n_objects=(0, 2), scale=(0.25, 0.5),
                               splits={"train": (24, 1), "val": (8, 2), "test": (8, 3)})
    monkeypatch.setitem(_REGISTRY, "tiny-det", spec)
    spec.fetch()
    return spec


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["tinyssd-bananas", "yolo-shapes", "fasterrcnn-shapes"])
def test_each_recipe_runs_an_epoch_with_metrics_and_figures(tiny, tmp_path, recipe):
    cfg = load_recipe(recipe, ["data.dataset=tiny-det", "data.image_size=64",
                               "data.batch_size=8", "train.epochs=1", "detect.figure_images=3"])
    out = tmp_path / recipe
    summary = run_recipe(cfg, out=out, quiet=True)
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("train_loss", "val_map50", "val_map", "val_map_small"):
        assert key in row and np.isfinite(row[key])
    parts = [k for k in row if k.startswith("train_") and k.endswith("_loss") and k != "train_loss"]
    assert len(parts) >= 2
    assert row["train_loss"] == pytest.approx(sum(row[k] for k in parts), rel=1e-4)
    if recipe.startswith("tinyssd"):
        assert 0 <= row["val_class_error"] <= 1 and row["val_bbox_mae"] >= 0
    assert "test_map50" in summary["final"]
    for stem in ("predictions_val", "pr_val"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").exists()


def test_config_errors_are_one_line(tiny):
    with pytest.raises(UserError, match="needs a detection set"):
        run_recipe(load_recipe("yolo-shapes", ["data.dataset=digits"]), quiet=True)
    with pytest.raises(UserError, match="multiple of 32"):
        run_recipe(load_recipe("yolo-shapes", ["data.dataset=tiny-det", "data.image_size=50"]),
                   quiet=True)
    with pytest.raises(UserError, match="detector"):
        load_recipe("yolo-shapes", ["model.name=resnet18"])


def test_holdout_carves_validation_out_of_train(tiny, tmp_path):
    """data.holdout=N: the last N training images are the validation split; the set's own
    validation and test splits are dropped, so tuning never sees them."""
    import torch

    from scratchdl.tasks.vision.detection import Detect
    from scratchdl.train.task import RunInfo

    whole = Detect(load_recipe("tinyssd-bananas", ["data.dataset=tiny-det"]), RunInfo(tmp_path))
    whole.setup()
    cfg = load_recipe("tinyssd-bananas", ["data.dataset=tiny-det", "data.holdout=4"])
    Detect.check_config(cfg)
    task = Detect(cfg, RunInfo(tmp_path))
    task.setup()
    assert sorted(task.splits) == ["train", "val"]
    (x, t), (vx, vt) = task.splits["train"], task.splits["val"]
    assert len(t) == 20
    all_x, all_t = whole.splits["train"]
    assert len(x) == 20 and len(vx) == 4
    assert torch.equal(x, all_x[:20]) and torch.equal(vx, all_x[20:])
    assert all(torch.equal(a, b) for a, b in zip(vt, all_t[20:], strict=True))


@pytest.mark.parametrize("value", [-1, 24, 2.5, True])
def test_bad_holdout_is_one_line_before_a_run_exists(tiny, tmp_path, value):
    # a float or a bool is refused by the recipe's types, the rest by the task's range check
    typed = value in (2.5, True)
    match = r"expected a int" if typed else r"data\.holdout: expected .* 0 to 23 \(tiny-det"
    with pytest.raises(UserError, match=match):
        run_recipe(load_recipe("tinyssd-bananas", ["data.dataset=tiny-det",
                                                   f"data.holdout={value}"]),
                   out=tmp_path / "never", quiet=True)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("row, message", [
    ([0, 0, 20, 5, 10, 30], "xmax < xmin"),
    ([0, 0, np.nan, 5, 20, 30], "NaN"),
    ([0, 2, 1, 5, 20, 30], r"class 2 is outside 0\.\.1"),
    ([9, 0, 1, 5, 20, 30], "image index outside"),
])
def test_bad_labels_in_a_set_are_refused(row, message):
    images = np.zeros((2, 3, 32, 32), np.uint8)
    labels = np.array([[1, 1, 1, 2, 8, 9], row], np.float32)
    with pytest.raises(UserError, match=message):
        DetectionArrays({"train": DetectionSplit(images, labels)}, ["a", "b"])


@pytest.mark.slow
def test_yolo_learns_a_tiny_set(tiny, tmp_path):
    """Trained longer on 24 images, YOLO's training loss falls by more than half."""
    cfg = load_recipe("yolo-shapes", ["data.dataset=tiny-det", "data.image_size=64",
                                      "data.batch_size=8", "train.epochs=12",
                                      "detect.figure_images=0", "data.hflip=0.0"])
    run_recipe(cfg, out=tmp_path / "learn", quiet=True)
    lines = (tmp_path / "learn" / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(r) for r in lines]
    assert rows[-1]["train_loss"] < 0.5 * rows[0]["train_loss"]
