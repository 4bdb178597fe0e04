"""The epoch loop: train, evaluate, checkpoint atomically, resume exactly.

Exact resume rests on three facts: the data order of epoch e is a pure function of
(seed, e) (`TensorLoader.set_epoch`), every other random draw comes from the global RNGs
whose states go into the checkpoint, and the checkpoint is written after the epoch's
metrics are final. Killed at any moment and resumed, a CPU run ends bit-identical.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.train import distributed as dist
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.metrics import Metric, make_metrics
from scratchdl.train.progress import progress, show
from scratchdl.train.seeding import rng_state, set_rng_state

EpochHook = Callable[[int, dict[str, float]], None]


@dataclass
class TrainerConfig:
    epochs: int
    grad_clip: float = 0.0  # max global grad norm; 0 disables clipping
    amp: bool = False  # float16 autocast + GradScaler, CUDA only
    metrics: list[str] = field(default_factory=lambda: ["accuracy"])
    show_progress: bool = True
    channels_last: bool = False  # NHWC memory format: faster convolutions on many CPUs/GPUs


class Trainer:
    """Train a classifier-style model: `model(x) -> logits`, `loss_fn(logits, y) -> scalar`."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        train_loader: Any,
        eval_loaders: dict[str, Any],
        cfg: TrainerConfig,
        *,
        device: torch.device,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        checkpoint_path: str | Path | None = None,
        extra_state: dict[str, Any] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model = model.to(device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.eval_loaders = eval_loaders
        self.cfg = cfg
        self.device = device
        self.loss_fn = loss_fn or nn.functional.cross_entropy
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.extra_state = extra_state or {}
        self.augment = augment  # applied to training batches only
        self.use_amp = cfg.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.epoch = 0  # epochs completed
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self.train_examples = 0

    # -- one pass -------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _reduce(self, metrics: list[Metric], prefix: str) -> dict[str, float]:
        for m in metrics:
            dist.all_reduce_sum(m.total)
        return {f"{prefix}_{m.name}": m.compute() for m in metrics}

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        self.train_loader.set_epoch(epoch)
        metrics = make_metrics(self.cfg.metrics)
        bar = progress(
            self.train_loader,
            total=len(self.train_loader),
            desc=f"epoch {epoch}/{self.cfg.epochs}",
            enabled=self.cfg.show_progress and dist.is_main_process(),
        )
        start, seen = time.perf_counter(), 0
        for x, y in bar:
            x, y = self._inputs(x), y.to(self.device, non_blocking=True)
            if self.augment is not None:
                x = self.augment(x)
            with self._autocast():
                logits = self.model(x)
                loss = self.loss_fn(logits, y)
            if not torch.isfinite(loss):
                raise UserError(
                    f"loss became {loss.item()} at epoch {epoch}: lower optimizer.lr "
                    "or set train.grad_clip"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.cfg.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            for m in metrics:
                m.update(logits.detach(), y, loss.detach())
            seen += y.shape[0]
            show(bar, loss=f"{loss.item():.4f}", ex_s=f"{seen / (time.perf_counter() - start):.0f}")
        elapsed = time.perf_counter() - start
        self.train_seconds += elapsed
        self.train_examples += seen
        out = self._reduce(metrics, "train")
        out["lr"] = self.optimizer.param_groups[0]["lr"]
        out["epoch_seconds"] = elapsed
        out["examples_per_s"] = seen * dist.world_size() / elapsed if elapsed > 0 else 0.0
        return out

    @torch.no_grad()
    def evaluate(self, loader: Any, prefix: str) -> dict[str, float]:
        self.model.eval()
        metrics = make_metrics(self.cfg.metrics)
        for x, y in loader:
            x, y = self._inputs(x), y.to(self.device, non_blocking=True)
            with self._autocast():
                logits = self.model(x)
                loss = self.loss_fn(logits, y)
            for m in metrics:
                m.update(logits.float(), y, loss.float())
        # Every process evaluates the whole split (loaders for evaluation are not sharded):
        # exact, with no padded duplicates, and cheap next to training.
        return {f"{prefix}_{m.name}": m.compute() for m in metrics}

    # -- the loop -------------------------------------------------------------------
    def fit(self, on_epoch_end: EpochHook | None = None) -> list[dict[str, float]]:
        """Train from `self.epoch` (0, or where a checkpoint left off) to cfg.epochs."""
        while self.epoch < self.cfg.epochs:
            epoch = self.epoch + 1
            row: dict[str, float] = {"epoch": epoch}
            row.update(self.train_epoch(epoch))
            for name, loader in self.eval_loaders.items():
                if len(loader) > 0:
                    row.update(self.evaluate(loader, name))
            self.epoch = epoch
            self.history.append(row)
            if self.checkpoint_path is not None and dist.is_main_process():
                save_checkpoint(self.state_dict(), self.checkpoint_path)
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
        return self.history

    @property
    def examples_per_s(self) -> float:
        """Mean training throughput of the epochs run in this process."""
        if self.train_seconds == 0:
            return 0.0
        return self.train_examples * dist.world_size() / self.train_seconds

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model = self.model.module if hasattr(self.model, "module") else self.model
        return {
            "format": 1,
            "epoch": self.epoch,
            "model": model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "history": self.history,
            **self.extra_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self.model.module if hasattr(self.model, "module") else self.model
        model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])

    def resume_from(self, path: str | Path) -> None:
        self.load_state_dict(load_checkpoint(path, map_location=self.device))
