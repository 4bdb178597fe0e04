"""Adversarial training for the classify task (Madry et al. 2018): an [adversarial] table.

With method = "pgd" (or "fgsm") every training batch is replaced by its adversarial version
before the loss: PGD-`steps` in the L-inf ball of radius `epsilon` in pixel units [0, 1]
(the run's standardisation is undone for the attack and redone after), step size
`step_size` (0: 2.5 * epsilon / steps), from a random start. The attack runs with the model
in eval mode (batch-norm statistics are not updated by attack passes) on the unwrapped
module (DDP only sees the training forward).
The random start draws from the torch generator the engine seeds and checkpoints (resume
is exact); under DDP each rank draws its own starts, so a 2-process run equals a 1-process
run in distribution; with rand_start = false it attacks the same examples the same way (up
to float rounding, which the sign of a near-zero gradient can amplify). test() adds
test_pgd_accuracy: accuracy under the same-epsilon PGD-`eval_steps` attack of
`scratchdl robust --attack pgd`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import PixelModel
from scratchdl.explain.attacks import adversarial_accuracy, check_epsilon, fgsm, pgd

ADVERSARIAL: dict[str, Any] = {
    "method": "none",  # none | fgsm | pgd
    "epsilon": 0.1,  # L-inf radius in pixel units (pixels span 0..1)
    "steps": 7,  # PGD steps while training
    "step_size": 0.0,  # 0: 2.5 * epsilon / steps (Madry et al.)
    "rand_start": True,
    "eval_steps": 20,  # PGD steps of the test-set attack (0: no robust test accuracy)
}
METHODS = ("none", "fgsm", "pgd")


def _int(value: Any, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


def check_adversarial(adv: dict[str, Any]) -> None:
    """One-line UserErrors for a bad [adversarial] table (before the run is registered)."""
    if adv["method"] not in METHODS:
        raise UserError(
            f"adversarial.method: expected one of {', '.join(METHODS)}, got {adv['method']!r}"
        )
    check_epsilon(adv["epsilon"], "adversarial.epsilon")
    check_epsilon(adv["step_size"], "adversarial.step_size")
    if not _int(adv["steps"], 1):
        raise UserError(f"adversarial.steps: expected an int >= 1, got {adv['steps']!r}")
    if not _int(adv["eval_steps"], 0):
        raise UserError(f"adversarial.eval_steps: expected an int >= 0, got {adv['eval_steps']!r}")
    if not isinstance(adv["rand_start"], bool):
        raise UserError(
            f"adversarial.rand_start: expected true or false, got {adv['rand_start']!r}"
        )


class Adversary:
    """Turns a standardised training batch into its adversarial version (same space)."""

    def __init__(self, model: nn.Module, adv: dict[str, Any], mean: list[float], std: list[float]):
        self.pixels = PixelModel(model, mean, std)
        self.cfg = adv

    @property
    def active(self) -> bool:
        return self.cfg["method"] != "none"

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg, px = self.cfg, self.pixels
        model = px.model
        was_training = model.training
        model.eval()
        try:
            x_px = px.to_pixels(x)
            if cfg["method"] == "fgsm":
                adv = fgsm(px, x_px, y, cfg["epsilon"])
            else:
                adv = pgd(
                    px,
                    x_px,
                    y,
                    cfg["epsilon"],
                    steps=cfg["steps"],
                    step_size=cfg["step_size"] or None,
                    rand_start=cfg["rand_start"],
                )
        finally:
            model.train(was_training)
        return px.standardize(adv).detach()

    def test_accuracy(self, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
        """Accuracy of the (standardised) test split under PGD-eval_steps at epsilon."""
        px = self.pixels
        return adversarial_accuracy(
            px,
            px.to_pixels(x),
            y,
            "pgd",
            self.cfg["epsilon"],
            steps=self.cfg["eval_steps"],
            device=device,
        )
