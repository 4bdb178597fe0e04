"""Config tables that several tasks share (each task lists the ones it accepts)."""

from __future__ import annotations

from typing import Any

IMAGE_DATA: dict[str, Any] = {
    "dataset": "fashion-mnist",
    "val_size": 5000,  # examples held out of the training set for model selection
    "normalize": False,  # standardise with the training split's mean/std
    "image_size": 0,  # resize every batch to this side (0 = the data's own size)
    "batch_size": 256,
    "eval_batch_size": 1024,
}
AUGMENT: dict[str, Any] = {  # training-batch augmentation (scratchdl.train.augment); all off
    "hflip": 0.0,
    "crop_scale": 1.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
    "hue": 0.0,
    "cutout": 0,
}
