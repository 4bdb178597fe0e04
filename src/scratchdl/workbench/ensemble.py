"""`scratchdl ensemble`: average the predicted class probabilities of several trained runs.

Each member sees the test set as its own run did (its own normalization); the members must
share the dataset, so the test images and labels are the same, in the same order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scratchdl.errors import UserError
from scratchdl.tasks._restore import load_trained_model


@torch.no_grad()
def _probabilities(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat(
        [model(x[i : i + batch_size]).softmax(1) for i in range(0, len(x), batch_size)]
    )


def ensemble(run_dirs: list[str | Path], batch_size: int = 2048) -> dict[str, Any]:
    """Members' and the ensemble's test accuracy, and the gain over the best member."""
    if len(run_dirs) < 2:
        raise UserError(f"an ensemble needs at least 2 run directories, got {len(run_dirs)}")
    labels, total, members = None, None, []
    for run_dir in run_dirs:
        model, cfg, splits = load_trained_model(run_dir)
        if labels is None:
            labels, dataset = splits.test.y, cfg["data"]["dataset"]
        elif cfg["data"]["dataset"] != dataset or not torch.equal(splits.test.y, labels):
            raise UserError(
                f"{run_dir} was trained on {cfg['data']['dataset']}, the first run on {dataset}: "
                "ensemble runs of the same dataset"
            )
        probs = _probabilities(model, splits.test.x, batch_size)
        total = probs if total is None else total + probs
        accuracy = (probs.argmax(1) == labels).double().mean().item()
        members.append({"run_dir": str(run_dir), "recipe": cfg["recipe"], "accuracy": accuracy})
    combined = (total.argmax(1) == labels).double().mean().item()
    best = max(m["accuracy"] for m in members)
    return {
        "members": members,
        "ensemble_accuracy": combined,
        "best_member": best,
        "gain": combined - best,
    }
