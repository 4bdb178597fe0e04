"""Training-batch augmentation from a recipe's [augment] table, built on scratchdl.scratch.

The transforms are the from-scratch ones (proven equal to torchvision.transforms.v2 on the
same parameters). They run on whole batches in pixel space: standardised inputs are mapped
back to [0, 1], augmented, and standardised again. Random draws come from the global torch
RNG, whose state is in every checkpoint, so resumed runs replay the same augmentations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from scratchdl.data import DatasetInfo
from scratchdl.errors import UserError
from scratchdl.scratch.augment import ColorJitter, Compose, RandomHorizontalFlip, RandomResizedCrop
from scratchdl.scratch.regularize import cutout

BatchTransform = Callable[[torch.Tensor], torch.Tensor]  # images in, augmented images out


def build_augment(cfg: dict[str, Any], info: DatasetInfo) -> BatchTransform | None:
    """A batch -> batch function, or None when every augmentation is off.

    `cfg` is the recipe's [augment] table (keys and defaults: scratchdl.recipes.defaults).
    """
    if (cfg["saturation"] > 0 or cfg["hue"] > 0) and info.in_channels != 3:
        raise UserError(
            f"augment.saturation/hue need colour images; {info.name} has {info.in_channels} "
            "channel(s): set them to 0"
        )
    steps = []
    if cfg["hflip"] > 0:
        steps.append(RandomHorizontalFlip(cfg["hflip"]))
    if cfg["crop_scale"] < 1:
        steps.append(RandomResizedCrop(info.image_size, scale=(cfg["crop_scale"], 1.0)))
    jitter = {k: cfg[k] for k in ("brightness", "contrast", "saturation", "hue")}
    if any(v > 0 for v in jitter.values()):
        steps.append(ColorJitter(**jitter))
    if not steps and cfg["cutout"] <= 0:
        return None
    pipeline = Compose(steps) if steps else None
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)

    def augment(x: torch.Tensor) -> torch.Tensor:
        m, s = mean.to(x.device, x.dtype), std.to(x.device, x.dtype)
        pixels = (x * s + m).clamp_(0, 1)
        if pipeline is not None:
            pixels = pipeline(pixels)
        if cfg["cutout"] > 0:
            pixels = cutout(pixels, int(cfg["cutout"]))
        return (pixels - m) / s

    return augment
