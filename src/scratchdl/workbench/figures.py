"""Report figures from run directories: overlaid training curves and a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.plots.confusion import confusion_plot
from scratchdl.plots.curves import overlay_curves


def _history(run_dir: Path) -> tuple[str, list[dict]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{run_dir} has no metrics.jsonl: expected a scratchdl run directory")
    meta = (
        json.loads((run_dir / "meta.json").read_text()) if (run_dir / "meta.json").is_file() else {}
    )
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return meta.get("recipe", run_dir.name), rows


# --curves without --curve-metric: each run's first of these it logs per epoch
DEFAULT_CURVE_METRICS = ("val_accuracy", "val_perplexity", "val_bleu", "val_loss", "train_loss")


def default_curve_metric(run_dir: Path, rows: list[dict]) -> str:
    """The metric a run's curve shows by default (accuracy, perplexity, BLEU, then losses)."""
    have = {k for r in rows for k in r}
    for metric in DEFAULT_CURVE_METRICS:
        if metric in have:
            return metric
    raise UserError(
        f"{run_dir} logs none of {', '.join(DEFAULT_CURVE_METRICS)} per epoch: "
        f"name one with --curve-metric (it has {', '.join(sorted(have))})"
    )


def curves_overlay(run_dirs: list[str | Path], metric: str | None, path_stem: Path) -> list[Path]:
    """One line per run of `metric` against epoch (e.g. val_accuracy, train_loss).

    metric None: each run's default_curve_metric, so runs of any task (classifiers, language
    models, seq2seq, transfer) can be drawn; lines name their metric when runs differ.
    """
    series = []
    for run_dir in map(Path, run_dirs):
        label, rows = _history(run_dir)
        name = metric or default_curve_metric(run_dir, rows)
        points = [(r["epoch"], r[name]) for r in rows if name in r]
        if not points:
            have = sorted({k for r in rows for k in r})
            raise UserError(f"{run_dir} has no {name!r} per epoch (has {', '.join(have)})")
        series.append((f"{label} ({run_dir.name[-6:]})", name, points))
    return overlay_curves(series, path_stem)


def run_confusion_matrix(
    run_dir: str | Path, batch_size: int = 2048
) -> tuple[torch.Tensor, list[str]]:
    """(counts [true, predicted] on the test split, class names) of a trained image classifier
    (any task tasks.restore can rebuild: classify, transfer)."""
    from scratchdl.tasks._restore import load_trained_model

    model, _, splits = load_trained_model(run_dir)
    k = splits.info.num_classes
    counts = torch.zeros(k * k, dtype=torch.long)
    with torch.no_grad():
        for i in range(0, len(splits.test.y), batch_size):
            pred = model(splits.test.x[i : i + batch_size]).argmax(1)
            true = splits.test.y[i : i + batch_size]
            counts += torch.bincount(true * k + pred, minlength=k * k)
    return counts.view(k, k), list(splits.info.classes)


def confusion_figure(run_dir: str | Path, path_stem: Path) -> tuple[torch.Tensor, list[Path]]:
    """Row-normalised confusion matrix heat map (each row: where one true class went)."""
    counts, classes = run_confusion_matrix(run_dir)
    acc = counts.diag().sum().item() / max(counts.sum().item(), 1)
    title = f"{Path(run_dir).name}: test accuracy {acc:.4f}"
    return counts, confusion_plot(counts, classes, title, path_stem)






