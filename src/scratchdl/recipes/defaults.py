"""The config tables every task shares, with defaults. A task adds its own tables and keys
(its `defaults`, e.g. [data] and [augment] for image tasks); a recipe overrides a subset.

The resolved config (defaults <- task defaults <- recipe <- model options <- --set) is
written to the run directory as config.toml; `--set` may only name keys that exist in it,
so a key a task does not use is rejected with the list of keys it accepts.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "description": "",
    "task": "classify",
    "model": {"name": "mlp"},
    "optimizer": {
        "name": "adam",  # sgd, adam, adamw, rmsprop, adagrad
        "impl": "torch",  # torch (torch.optim) or scratch (scratchdl.scratch.optim)
        "kernel": "auto",  # torch impl: auto (fused where torch has it), fused, foreach, loop
        "lr": 1e-3,
        "weight_decay": 0.0,
        "no_decay_bias_norm": False,  # true: biases and norm weights (dim < 2) get no decay
        "momentum": 0.0,  # sgd, rmsprop
        "nesterov": False,  # sgd
        "betas": [0.9, 0.999],  # adam, adamw
    },
    "schedule": {  # scratchdl.scratch.schedules, stepped once per optimizer step
        "name": "none",  # none, step, multistep, cosine, linear, inverse_sqrt, noam
        "warmup_epochs": 0.0,  # linear warm-up in front of any schedule: lr (s+1)/(W+1)
        "warmup_steps": 0,  # > 0: warm-up length in steps (overrides warmup_epochs)
        "step_epochs": 1.0,  # step: decay every this many epochs
        "milestones": [],  # multistep: epochs at which to decay (default 50% and 75%)
        "gamma": 0.1,  # step, multistep: decay factor
        "min_factor": 0.0,  # cosine/linear: final lr as a fraction of the base lr
        "d_model": 512,  # noam: lr = optimizer.lr * d_model^-0.5 * min(n^-0.5, n W^-1.5)
    },
    "train": {
        "epochs": 10,
        "seed": 0,
        "grad_clip": 0.0,  # max global gradient norm; 0 = off
        "accumulate": 1,  # optimizer step every this many batches (gradient accumulation)
        "limit_batches": 0,  # > 0: at most this many batches per epoch (smoke tests, GPU checks)
        "amp": "none",  # none, bf16 (CUDA or CPU), fp16 (CUDA, grad scaling), auto (native bf16)
        "channels_last": False,  # NHWC memory format for conv nets (see benchmarks/bench_zoo.py)
        "device": "auto",  # auto, cpu, cuda, cuda:N
        "tensorboard": False,  # true: TensorBoard event files in RUN_DIR/tensorboard
        "dist": "ddp",  # with --nproc N: ddp (torch DDP), ring (our ring all-reduce), ps
        "best": "",  # a val metric (val_loss, val_accuracy): test the epoch where it was best
        "best_mode": "auto",  # auto (from the metric's name), min or max
        "patience": 0,  # > 0: stop when train.best has not improved for this many epochs
    },
    "target": {
        "metric": "test_accuracy",  # the headline metric
        "value": float("nan"),  # the published number to meet
        "source": "",
    },
}
