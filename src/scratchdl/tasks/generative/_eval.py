"""Judging generated images with our own trained classifier (not Inception): Frechet distance
of its penultimate features, and how often it labels a class-conditioned sample as the class
that was asked for.

Which classifier: `eval.classifier` in a generative recipe is
- "auto": the newest completed run of `lenet-mnist` (for data.dataset "mnist") or
  `lenet-fmnist` (for "fashion-mnist") in the results store ($SCRATCHDL_RUNS/runs.sqlite), i.e.
  run `scratchdl run lenet-mnist` once first; without one, FD and class accuracy are skipped
  (and a recipe whose headline needs them stops before it starts);
- a run directory of any image classifier on the same dataset (tasks.restore rebuilds it);
- "none": skip them.
The features are the input of the classifier's last nn.Linear (LeNet: 84 numbers), so the
distances are comparable between our runs only, never to published FID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.metrics.frechet import feature_stats, frechet_distance

CLASSIFIER_RECIPES = {"mnist": "lenet-mnist", "fashion-mnist": "lenet-fmnist"}


def find_classifier(spec: str, dataset: str) -> Path | None:
    """The run directory `spec` names (see the module docstring), or None for none/not found."""
    if spec == "none":
        return None
    if spec != "auto":
        path = Path(spec)
        if not (path / "config.toml").is_file() or not (path / "checkpoint.pt").is_file():
            raise UserError(
                f"eval.classifier: {spec} is not a run directory (no config.toml and "
                'checkpoint.pt); give a trained classifier\'s run dir, "auto" or "none"'
            )
        return path
    recipe = CLASSIFIER_RECIPES.get(dataset)
    if recipe is None:
        return None
    from scratchdl.store import RunStore

    for run in RunStore().runs(recipe=recipe, status="completed"):
        path = Path(run["run_dir"])
        if (path / "checkpoint.pt").is_file():
            return path
    return None


class FeatureClassifier:
    """A trained classifier run seen as f(images in [0, 1]) -> (features, logits)."""

    def __init__(self, run_dir: Path, dataset: str, device: torch.device) -> None:
        from scratchdl.tasks._restore import load_trained_model

        model, cfg, data = load_trained_model(run_dir)
        if cfg["data"]["dataset"] != dataset:
            raise UserError(
                f"eval.classifier {run_dir} was trained on {cfg['data']['dataset']}, "
                f"not {dataset}; give a classifier of the same dataset"
            )
        self.run_dir, self.model, self.device = run_dir, model.to(device).eval(), device
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(data.info.mean, device=device).view(shape)
        self.std = torch.tensor(data.info.std, device=device).view(shape)
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise UserError(f"classifier {run_dir} has no nn.Linear layer to take features from")
        self._feats: list[torch.Tensor] = []
        linears[-1].register_forward_hook(lambda m, inp, out: self._feats.append(inp[0]))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = [], []
        for i in range(0, len(x), batch):
            self._feats.clear()
            xb = (x[i : i + batch].to(self.device) - self.mean) / self.std
            logits.append(self.model(xb).float().cpu())
            feats.append(self._feats[-1].flatten(1).double().cpu())
        return torch.cat(feats), torch.cat(logits)


@torch.no_grad()
def draw_for_scoring(
    model: nn.Module, n: int, num_classes: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples to score (classes in turn for a conditional model, whose labels come back;
    None otherwise), drawn 1000 at a time from `generator`: every score of a run and of
    `scratchdl study samplers` draws its images this one way, so equal seeds give equal images."""
    device = next(model.parameters()).device
    labels = torch.arange(n, device=device) % num_classes
    cond = model.conditional
    fake = torch.cat([model.sample(len(lb), lb if cond else None, generator)
                      for lb in labels.split(1000)])
    return fake, (labels if cond else None)


def sample_scores(
    clf: FeatureClassifier, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
) -> dict[str, Any]:
    """fd: Frechet distance real vs fake features; class_accuracy (when labels are given):
    share of fake images the classifier labels as the class they were generated for."""
    f_real, _ = clf(real)
    f_fake, logits = clf(fake)
    out: dict[str, Any] = {"fd": frechet_distance(*feature_stats(f_real), *feature_stats(f_fake))}
    if labels is not None:
        out["class_accuracy"] = (logits.argmax(1) == labels.cpu()).float().mean().item()
    return out
