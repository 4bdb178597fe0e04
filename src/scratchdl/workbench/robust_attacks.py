"""Adversarial accuracy for `scratchdl robust --attack fgsm,pgd --eps 0.01,0.03,0.1`.

The attacks run in pixel space [0, 1] on PixelModel(model, mean, std): the run's
standardisation is undone for the attack and redone inside the model, exactly as the
corruptions are applied, so epsilon is an L-inf radius in pixel units for every run. FGSM is
one signed step of epsilon; PGD is PGD-20 with step 2.5 * epsilon / 20 and no random start
(deterministic, so every run of one study is attacked the same way; the paired design of
the corruptions holds: each model faces its own worst case within the same budget).
Epsilon 0 is the clean image (its accuracy is the clean column).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import PixelModel
from scratchdl.explain.attacks import ATTACKS, adversarial_accuracy, check_epsilon

PGD_STEPS = 20
LABELS = {"fgsm": "FGSM", "pgd": f"PGD-{PGD_STEPS}"}
UNIT = "ε (L-inf, pixels 0-1)"


def check_attacks(attacks: list[str], eps: list[float]) -> tuple[list[str], list[float]]:
    """Known attack names and finite eps >= 0 (sorted, 0 dropped: it is the clean column)."""
    names = list(dict.fromkeys(attacks))
    for name in names:
        if name not in ATTACKS:
            raise UserError(f"--attack: expected a list of {', '.join(ATTACKS)}, got {name!r}")
    for e in eps:
        check_epsilon(e, "--eps")
    positive = sorted({float(e) for e in eps if e > 0})
    if names and not positive:
        raise UserError(f"--eps: expected at least one epsilon > 0 (0 is clean), got {eps}")
    return names, positive


def attack_accuracy(
    model: nn.Module,
    pixels: torch.Tensor,
    y: torch.Tensor,
    mean: list[float],
    std: list[float],
    attacks: list[str],
    eps: list[float],
    *,
    batch_size: int,
    device: torch.device,
) -> dict[str, dict[str, float]]:
    """attack -> f"{eps:g}" -> test accuracy under that attack."""
    px = PixelModel(model, mean, std).to(device).eval()
    return {
        name: {
            f"{e:g}": adversarial_accuracy(
                px, pixels, y, name, e, steps=PGD_STEPS, batch_size=batch_size, device=device
            )
            for e in eps
        }
        for name in attacks
    }


def levels(eps: list[float]) -> tuple[str, list[str]]:
    """The severity chart's axis for an attack: positions 0..len(eps), labelled by epsilon."""
    return UNIT, ["0", *(f"{e:g}" for e in eps)]


def note(eps: list[float]) -> str:
    """Under a radar spoke: the epsilons averaged."""
    span = f"{eps[0]:g}" if len(eps) == 1 else f"{eps[0]:g}-{eps[-1]:g}"
    return f"ε (pixels): {span}"
