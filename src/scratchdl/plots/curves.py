"""Training curves: a run's curves.png (loss and metrics per epoch) and several runs overlaid."""

from __future__ import annotations

from pathlib import Path

from scratchdl.plots._sheet import STYLE, epoch_axis, plt, save


def plot_curves(history: list[dict[str, float]], path: str | Path, title: str) -> None:
    """Left: loss per split; right: every other per-split metric (accuracy etc.)."""
    if not history:
        return
    epochs = [row["epoch"] for row in history]
    keys = [k for k in history[0] if "_" in k and k.split("_", 1)[0] in ("train", "val", "test")]
    losses = [k for k in keys if k.endswith("_loss")]
    others = [k for k in keys if not k.endswith("_loss")]
    with plt.rc_context(STYLE):  # the look of every other scratchdl figure
        _draw(history, epochs, losses, others, Path(path), title)


def _draw(
    history: list[dict[str, float]],
    epochs: list[float],
    losses: list[str],
    others: list[str],
    path: Path,
    title: str,
) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    # name the right axis after what it shows: "accuracy" when that is all there is
    kinds = sorted({k.split("_", 1)[1] for k in others})
    right = kinds[0] if len(kinds) == 1 else "metric"
    for ax, names, ylabel in ((axes[0], losses, "loss"), (axes[1], others, right)):
        for k in names:
            ax.plot(
                epochs, [row.get(k, float("nan")) for row in history], marker="o", ms=3, label=k
            )
        ax.set_xlabel("epoch")
        epoch_axis(ax)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if names:
            ax.legend(frameon=False)
    fig.suptitle(title, fontsize=10)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def overlay_curves(
    series: list[tuple[str, str, list[tuple[int, float]]]], path_stem: Path
) -> list[Path]:
    """One line per (label, metric, [(epoch, value), ...]); lines name their metric when the
    series show different ones."""
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
