"""The "diffusion" task: the generative task for a diffusion model (models/generative/ddpm.py),
with the Frechet distance of its samples measured for each sampler the recipe asks for:
test_fd for the model's own sampler (model.sampler, model.sample_steps: ancestral DDPM over
every step by default) and test_fd_ddim{K} for DDIM with K steps, for each K in eval.ddim_steps,
on the same number of samples from the same noise seed; test_fd_ddim{K}_ratio is their ratio
to test_fd, and test_sample_seconds{,_ddim{K}} the time each sampler took.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from scratchdl.errors import UserError
from scratchdl.tasks import register_task
from scratchdl.tasks.generative.generative import DATA, EVAL, Generative


@register_task("diffusion")
class Diffusion(Generative):
    defaults = {
        **Generative.defaults,
        "data": {**DATA, "binarize": "none"},
        "eval": {**EVAL, "fd_samples": 1000, "ddim_steps": [50]},
        "target": {"metric": "test_fd"},
    }

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        ks, steps = cfg["eval"]["ddim_steps"], cfg["model"].get("steps")
        if steps is None:
            raise UserError(f"model.name {cfg['model']['name']!r}: the diffusion task needs ddpm")
        if not isinstance(ks, list) or not all(isinstance(k, int) and 1 <= k <= steps for k in ks):
            raise UserError(f"eval.ddim_steps: expected a list of ints in 1..{steps}, got {ks!r}")
        if cfg["data"]["binarize"] != "none":
            raise UserError('data.binarize: diffusion learns grey images; set data.binarize="none"')
        super().check_config(cfg)

    def _classifier_scores(self, gen: torch.Generator) -> dict[str, float]:
        model, seed = self.module("model"), self.cfg["eval"]["seed"]
        t0 = time.perf_counter()
        out = super()._classifier_scores(gen)
        if not out:
            return out
        out["test_sample_seconds"] = time.perf_counter() - t0
        own = (model.sampler, model.sample_steps)
        try:
            for k in self.cfg["eval"]["ddim_steps"]:
                model.sampler, model.sample_steps = "ddim", k
                t0 = time.perf_counter()
                fd = super()._classifier_scores(gen.manual_seed(seed))["test_fd"]
                out[f"test_fd_ddim{k}"] = fd
                out[f"test_fd_ddim{k}_ratio"] = fd / out["test_fd"]
                out[f"test_sample_seconds_ddim{k}"] = time.perf_counter() - t0
        finally:
            model.sampler, model.sample_steps = own
        return out
