"""Report figures from run directories: overlaid training curves and a confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from scratchdl.errors import UserError
from scratchdl.workbench.charts import STYLE, epoch_axis, plt, save


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
    names = list(dict.fromkeys(name for _, name, _ in series))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 3.0))
        for label, name, points in series:
            xs, ys = zip(*points, strict=True)
            shown = f"{label}: {name}" if len(names) > 1 else label
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, label=shown)
        title = " / ".join(n.replace("_", " ") for n in names)
        ax.set_xlabel("epoch")
        epoch_axis(ax)
        ax.set_ylabel(title)
        ax.set_title(f"{title} per epoch")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
        return save(fig, path_stem)


def confusion_matrix(run_dir: str | Path, batch_size: int = 2048) -> tuple[torch.Tensor, list[str]]:
    """(counts [true, predicted] on the test split, class names) of a trained image classifier
    (any task tasks.restore can rebuild: classify, transfer)."""
    from scratchdl.tasks.restore import load_trained_model

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
    counts, classes = confusion_matrix(run_dir)
    acc = counts.diag().sum().item() / max(counts.sum().item(), 1)
    title = f"{Path(run_dir).name}: test accuracy {acc:.4f}"
    return counts, confusion_plot(counts, classes, title, path_stem)


def _luminance(rgba) -> float:
    """WCAG relative luminance of an RGB(A) colour in [0, 1]."""
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def text_colour(background) -> str:
    """White or black, whichever contrasts more with `background` (>= 4.5:1 on any colour)."""
    lum = _luminance(background)
    return "white" if (1.05 / (lum + 0.05)) > ((lum + 0.05) / 0.05) else "black"


def confusion_plot(
    counts: torch.Tensor, classes: list[str], title: str, path_stem: Path
) -> list[Path]:
    """Heat map of counts [true, predicted] normalised per row, a number in every cell >= 0.01.

    Cells keep a readable size: the figure grows with the number of classes (0.42 in per cell
    up to 16 classes, at least 0.3 in beyond), the numbers' font follows the cell (6-9 pt) and
    each number is white or black, whichever contrasts more with its cell's colour.
    """
    k = len(classes)
    rates = counts.double() / counts.sum(1, keepdim=True).clamp(min=1)
    side = max(2.4, (0.42 if k <= 16 else max(0.3, 6.7 / k)) * k)  # inches
    font = min(9.0, max(6.0, side / k * 72 * 0.26))  # "0.95" is ~2.2 x font wide: fits the cell
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(side + 2.4, side + 1.6))
        im = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
        label_font = min(8.0, font)
        ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=label_font)
        ax.set_yticks(range(k), classes, fontsize=label_font)
        for i in range(k):
            for j in range(k):
                if rates[i, j] >= 0.01:
                    ax.text(
                        j,
                        i,
                        f"{rates[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=font,
                        color=text_colour(im.cmap(im.norm(float(rates[i, j])))),
                    )
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.spines[:].set_visible(False)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
        return save(fig, path_stem)
