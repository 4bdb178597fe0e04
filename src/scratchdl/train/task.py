"""What a task supplies to the engine, and nothing more (Lightning's LightningModule in small).

A task builds its data and modules, says how to train on one batch and how to evaluate; the
engine (scratchdl.train.engine) owns the loop: device placement, AMP, clipping, accumulation,
the non-finite check, schedules, progress, logging, checkpoints, exact resume and DDP.

A new task in full (see scratchdl.tasks.vision.classify for a real one)::

    @register_task("regress")
    class Regress(Task):
        defaults = {"data": {"n": 256, "batch_size": 32}}

        def setup(self) -> None:
            g = torch.Generator().manual_seed(self.cfg["train"]["seed"])
            self.x = torch.randn(self.cfg["data"]["n"], 3, generator=g)
            self.y = self.x @ torch.tensor([1.0, -2.0, 0.5])
            self.model = torch.nn.Linear(3, 1)

        def steps_per_epoch(self) -> int:
            return self.cfg["data"]["n"] // self.cfg["data"]["batch_size"]

        def train_batches(self, epoch: int):
            bs = self.cfg["data"]["batch_size"]
            return ((self.x[i : i + bs], self.y[i : i + bs]) for i in range(0, len(self.x), bs))

        def training_step(self, batch, step: int) -> dict[str, torch.Tensor]:
            x, y = batch
            return {"loss": F.mse_loss(self.model(x).squeeze(1), y)}

        def evaluate(self, split: str) -> dict[str, float]:
            return {"mse": F.mse_loss(self.model(self.x).squeeze(1), self.y).item()}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from scratchdl.train.engine import Engine


@dataclass
class RunInfo:
    """Where a task may write its own files, and how chatty to be."""

    run_dir: Path
    run_id: str = ""
    quiet: bool = True
    extras: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base class of every task. Override what is yours; the defaults suit one model."""

    name: ClassVar[str] = ""
    # The task's own config tables and keys with defaults (merged over recipes.defaults).
    defaults: ClassVar[dict[str, Any]] = {}
    # Attributes holding nn.Modules: moved to the device, DDP-wrapped, checkpointed.
    module_names: ClassVar[tuple[str, ...]] = ("model",)
    # The registry kinds (scratchdl.models._registry.KINDS) whose models [model].name may be.
    model_kinds: ClassVar[tuple[str, ...]] = ("image-classifier",)
    # True: training_step steps the optimizers itself (engine.backward / engine.step, or a
    # hand-written update); the engine still steps schedules, logs and checkpoints.
    manual_optimization: ClassVar[bool] = False
    supports_amp: ClassVar[bool] = True  # False: autograd-free tasks reject train.amp
    supports_channels_last: ClassVar[bool] = False  # True: image tasks honour it
    supports_ddp: ClassVar[bool] = False  # True: the task shards its data by self.rank
    # Optimizers (names from configure_optimizers) whose gradients train.grad_clip leaves
    # alone, e.g. a probe trained beside the model that must not share the model's norm.
    unclipped_optimizers: ClassVar[tuple[str, ...]] = ()
    # True: the epoch's train_* metrics weight each batch by its tokens (batch_size()[1]),
    # not its examples: a per-batch mean over real tokens then averages to the epoch's.
    log_per_token: ClassVar[bool] = False

    def __init__(self, cfg: dict[str, Any], run: RunInfo) -> None:
        self.cfg = cfg
        self.run = run
        self.device = torch.device("cpu")
        self.rank, self.world_size = 0, 1
        self.engine: Engine | None = None

    # -- configuration -----------------------------------------------------------------
    @classmethod
    def model_options(cls, name: str) -> dict[str, Any]:
        """The options (with defaults) that model `name` accepts in [model]: the registry's,
        for a model of one of `model_kinds` (any other name is a one-line UserError)."""
        from scratchdl.models import model_options

        return model_options(name, cls.model_kinds)

    @classmethod
    def check_config(cls, cfg: dict[str, Any]) -> None:
        """Raise UserError for settings that could only fail later (called before a run exists)."""

    # -- building --------------------------------------------------------------------
    def setup(self) -> None:
        """Load data and build the modules named in module_names (called once, every rank)."""
        raise NotImplementedError

    def phases(self) -> list[tuple[str, int]]:
        """(name, epochs) of each training phase; most tasks have one."""
        return [("", int(self.cfg["train"]["epochs"]))]

    def setup_phase(self, phase: str) -> None:
        """Rebuild what a phase trains (called before each phase, and on resume inside it)."""

    def configure_optimizers(self) -> dict[str, Any]:
        """name -> optimizer. Default: the recipe's [optimizer] over every trainable parameter."""
        from scratchdl.train.optim import build_optimizer

        params = [p for name in self.module_names for p in self.module(name).parameters()]
        return {"main": build_optimizer(params, self.cfg["optimizer"])}

    def module(self, name: str) -> nn.Module:
        """The module behind attribute `name`, unwrapped from DistributedDataParallel."""
        m = getattr(self, name)
        return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m

    # -- training --------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Batches per epoch on this rank (the progress bar's length; schedules count on it)."""
        raise NotImplementedError

    def train_batches(self, epoch: int) -> Iterable[Any]:
        """This rank's training batches of `epoch` (1-based), at most steps_per_epoch() of them."""
        raise NotImplementedError

    def training_step(self, batch: Any, step: int) -> dict[str, Any]:
        """Losses and metrics of one batch (already on self.device).

        The engine backpropagates out["loss"], or the sum of every entry named *loss when
        there is no "loss" (torchvision detection style). Every entry is logged as train_<key>,
        averaged over the epoch weighted by the batch's examples (tokens if log_per_token).
        """
        raise NotImplementedError

    def end_train_epoch(self, epoch: int) -> None:
        """Called on every rank after an epoch's last training step, before validation
        (e.g. gather per-rank state that the checkpoint must hold)."""

    def batch_size(self, batch: Any) -> tuple[int, int]:
        """(examples, tokens) in a batch, for throughput; tokens 0 when not a sequence task."""
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        if isinstance(first, dict):
            first = next(iter(first.values()))
        return (int(first.shape[0]) if isinstance(first, torch.Tensor) else len(first)), 0

    # -- evaluation ------------------------------------------------------------------
    def evaluate(self, split: str) -> dict[str, float]:
        """Metrics on `split` ("val" each epoch); the engine prefixes them with the split."""
        return {}

    def test(self) -> dict[str, float]:
        """Final metrics of a phase, named in full (e.g. test_accuracy); may write files."""
        return {f"test_{k}": v for k, v in self.evaluate("test").items()}

    def summary(self, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The run's final metrics from each phase's (last epoch row + test()) results."""
        return dict(list(results.values())[-1])

    # -- resume ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Task extras for exact resume (data-stream position, carried state, ...)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict() returned."""
