"""TensorBoard event files for a run: live (`train.tensorboard = true`) or exported afterwards.

Live, the engine hands over the loss of every step at each host sync (every few dozen steps)
and the runner each epoch's row; at the end every figure the run wrote (PNG) is added as an
image. `scratchdl export tensorboard RUN_DIR...` writes the same from a stored run's
config.toml, metrics.jsonl and figures (per-step losses are not stored, so only epochs).
Open the dashboard with `tensorboard --logdir runs/` (or the folder of one run).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from scratchdl.errors import UserError

SUBDIR = "tensorboard"


def _writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch imports tensorboard lazily
        raise UserError(
            "train.tensorboard needs the tensorboard package: pip install 'scratchdl[tensorboard]'"
        ) from e
    return SummaryWriter(log_dir=str(log_dir))


class TensorBoardLog:
    """Scalars per step and per epoch, the resolved config as text, the run's figures."""

    def __init__(self, run_dir: Path, config_text: str) -> None:
        self.run_dir = Path(run_dir)
        self.writer = _writer(self.run_dir / SUBDIR)
        # Markdown code block: TensorBoard renders text as Markdown
        self.writer.add_text("config", "```\n" + config_text + "\n```", 0)

    def log_steps(self, steps: list[tuple[int, float]], lrs: dict[str, float]) -> None:
        for step, loss in steps:
            self.writer.add_scalar("step/train_loss", loss, step)
        if steps:
            for name, lr in lrs.items():
                self.writer.add_scalar(f"step/lr_{name}", lr, steps[-1][0])

    def log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, int | float) and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", value, epoch)

    def add_figures(self) -> int:
        """Every PNG of the run directory as an image; how many."""
        from torchvision.io import ImageReadMode, read_image

        figures = sorted(p for p in self.run_dir.rglob("*.png") if SUBDIR not in p.parts)
        for path in figures:
            image = read_image(str(path), ImageReadMode.RGB)  # uint8 [3, H, W]
            tag = "figures/" + str(path.relative_to(self.run_dir).with_suffix(""))
            self.writer.add_image(tag, image, 0, dataformats="CHW")
        return len(figures)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def export_run(run_dir: Path) -> Path:
    """Write event files for a stored run into RUN_DIR/tensorboard; returns that folder."""
    run_dir = Path(run_dir)
    config, metrics = run_dir / "config.toml", run_dir / "metrics.jsonl"
    if not config.exists():
        raise UserError(f"{run_dir} is not a run directory (no config.toml): give a run's folder")
    log = TensorBoardLog(run_dir, config.read_text())
    lines = metrics.read_text().splitlines() if metrics.exists() else []
    for line in lines:
        if line.strip():
            row = json.loads(line)
            log.log_epoch(int(row["epoch"]), row)
    log.add_figures()
    log.close()
    return run_dir / SUBDIR
