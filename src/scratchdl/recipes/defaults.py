"""Every key a recipe may set, with its default. A recipe TOML overrides a subset.

The resolved config (defaults <- recipe <- model options <- --set) is written to the run
directory as config.toml; `--set` may only name keys that exist here.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "description": "",
    "task": "classify",
    "data": {
        "dataset": "fashion-mnist",
        "val_size": 5000,  # examples held out of the training set for model selection
        "normalize": False,  # standardise with the training split's mean/std
        "image_size": 0,  # resize every batch to this side (0 = the data's own size)
        "batch_size": 256,
        "eval_batch_size": 1024,
    },
    "model": {"name": "mlp"},
    "augment": {  # training-batch augmentation (scratchdl.train.augment); all off by default
        "hflip": 0.0,
        "crop_scale": 1.0,
        "brightness": 0.0,
        "contrast": 0.0,
        "saturation": 0.0,
        "hue": 0.0,
        "cutout": 0,
    },
    "optimizer": {
        "name": "adam",  # sgd, adam, adamw, rmsprop, adagrad
        "lr": 1e-3,
        "weight_decay": 0.0,
        "momentum": 0.0,  # sgd, rmsprop
        "nesterov": False,  # sgd
        "betas": [0.9, 0.999],  # adam, adamw
    },
    "schedule": {
        "name": "none",  # none, step, cosine, linear (stepped every batch)
        "warmup_epochs": 0.0,  # linear warm-up in front of any schedule
        "step_epochs": 1,  # step: decay every this many epochs
        "gamma": 0.1,  # step: decay factor
        "min_factor": 0.0,  # cosine/linear: final lr as a fraction of the base lr
    },
    "train": {
        "epochs": 10,
        "seed": 0,
        "grad_clip": 0.0,  # max global gradient norm; 0 = off
        "amp": False,  # mixed precision (CUDA only)
        "channels_last": False,  # NHWC memory format for conv nets (see benchmarks/bench_zoo.py)
        "device": "auto",  # auto, cpu, cuda, cuda:N
        "metrics": ["accuracy"],
    },
    "target": {
        "metric": "test_accuracy",  # the headline metric
        "value": float("nan"),  # the published number to meet
        "source": "",
    },
}
