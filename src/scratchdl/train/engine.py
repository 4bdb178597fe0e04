"""The one training loop of scratchdl: every task trains here.

The engine owns the epoch/step loop, device placement of any batch, AMP (fp16 autocast with
grad scaling or bf16 autocast on CUDA, bf16 autocast on CPU), gradient clipping and
accumulation, the non-finite-loss check, per-step LR schedules, the progress bar, per-epoch
logging, validation, atomic checkpoints with exact resume, throughput and DDP. A task
(scratchdl.train.task.Task) supplies data, modules, a training step and evaluation.

Exact resume rests on three facts: a task's data order for epoch e is a pure function of
(seed, e) or of a stream position it checkpoints, every other random draw comes from the
global RNGs whose states go into the checkpoint, and the checkpoint is written after the
epoch's metrics are final. Killed at any moment and resumed, a CPU run ends bit-identical.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.train import collective
from scratchdl.train import distributed as dist
from scratchdl.train.batch import to_device
from scratchdl.train.best import BestTracker, check_best_config
from scratchdl.train.checkpoint import load_checkpoint, save_checkpoint
from scratchdl.train.device import resolve_device
from scratchdl.train.optim import build_scheduler
from scratchdl.train.progress import progress, show
from scratchdl.train.seeding import rng_state, seed_everything, set_rng_state
from scratchdl.train.task import Task

CHECKPOINT_FORMAT = 2
AMP_MODES = ("none", "bf16", "fp16")
EpochHook = Callable[[int, dict[str, float]], None]
# Called at each host sync with (optimizer step, loss) of every step since the last one and
# the lr of each optimizer now: per-step logging (TensorBoard) without a sync per step.
StepsHook = Callable[[list[tuple[int, float]], dict[str, float]], None]
# Steps between host syncs (loss check, progress bar): a sync per step stalls a GPU.
SYNC_EVERY = 32


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively (CPU: AVX512-BF16 or AMX; CUDA: Ampere+).

    Elsewhere bf16 is emulated and autocast would slow training down instead of speeding it up.
    """
    if device.type == "cuda":  # by default torch also says yes where it only emulates bf16
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = torch.cpu
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch 2.x
        return any(getattr(cpu, name, lambda: False)() for name in checks)
    return False


def amp_mode(value: Any, device: torch.device) -> str:
    """train.amp as one of AMP_MODES on `device` (true = fp16 on CUDA, bf16 on CPU; "auto" =
    bf16 where the device has native bf16, else none)."""
    if value == "auto":
        value = "bf16" if native_bf16(device) else "none"
    if value is True:
        value = "fp16" if device.type == "cuda" else "bf16"
    elif value is False:
        value = "none"
    if value not in AMP_MODES:
        raise UserError(f"train.amp must be one of {', '.join(AMP_MODES)}, auto, got {value!r}")
    if value == "fp16" and device.type != "cuda":
        raise UserError("train.amp=fp16 needs a CUDA GPU; on CPU use train.amp=bf16")
    return value


class Engine:
    """Fit a Task: `Engine(task, cfg["train"]).fit(...)` returns the run's final metrics."""

    def __init__(
        self,
        task: Task,
        *,
        checkpoint_path: str | Path | None = None,
        on_epoch_end: EpochHook | None = None,
        on_history: Callable[[list[dict[str, float]]], None] | None = None,
        on_steps: StepsHook | None = None,
        on_setup: Callable[[], None] | None = None,
        show_progress: bool = True,
    ) -> None:
        train_cfg = task.cfg["train"]
        self.task = task
        self.train_cfg = train_cfg
        self.device = resolve_device(train_cfg["device"])
        self.amp = amp_mode(train_cfg.get("amp", "none"), self.device)
        if not task.supports_amp:  # "auto" asks for AMP only where it can run
            self.amp = "none"
        self.channels_last = bool(train_cfg.get("channels_last", False))
        self.grad_clip = float(train_cfg.get("grad_clip", 0.0))
        self.accumulate = int(train_cfg.get("accumulate", 1))
        self.limit_batches = int(train_cfg.get("limit_batches", 0))  # > 0: smoke tests, GPU checks
        check_capabilities(type(task), train_cfg)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.best_metric = str(train_cfg.get("best", "") or "")  # train.best: test the best epoch
        self.best_weights: dict[str, Any] | None = None  # that epoch's modules, on the CPU
        self.best_epoch = 0  # the epoch (within the phase) best_weights are from
        self.last_weights: dict[str, Any] | None = None  # the last epoch's, once swapped
        self.stopped_early = False
        self.on_epoch_end = on_epoch_end
        self.on_history = on_history
        self.on_steps = on_steps
        self.on_setup = on_setup  # called once data, model and optimizers are built
        self.show_progress = show_progress
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == "fp16")
        self.optimizers: dict[str, Any] = {}
        self.schedulers: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []
        self.phase_results: dict[str, dict[str, Any]] = {}
        self.phase_index = 0
        self.epoch = 0  # epochs completed in the current phase
        self.step = 0  # optimizer steps taken in the current phase
        self.grad_sync: Any = None  # train.dist = ring | ps in several processes
        self.train_seconds = 0.0
        self.train_examples = 0
        self.train_tokens = 0
        task.engine = self
        task.device = self.device
        task.rank, task.world_size = dist.rank(), dist.world_size()

    # -- precision ---------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of train.amp (a no-op when off)."""
        if self.amp == "none":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.amp == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # -- manual optimization helpers --------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward() through the grad scaler (fp16) and the accumulation divisor."""
        self.scaler.scale(loss / self.accumulate).backward()

    def step_optimizer(self, name: str) -> None:
        """Unscale, clip (unless the task lists `name` as unclipped), step, zero the grads."""
        opt = self.optimizers[name]
        if self.grad_clip > 0 and name not in self.task.unclipped_optimizers:
            self.scaler.unscale_(opt)
            params = [p for g in opt.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.scaler.step(opt)
        opt.zero_grad(set_to_none=True)  # the scale is updated once per step, after them all

    # -- modules -------------------------------------------------------------------------
    def _prepare_modules(self) -> None:
        """Move the task's modules to the device (NHWC if asked); in several processes,
        DDP-wrap the trainable ones (train.dist = ddp) or set up our own gradient sync."""
        mode = self.train_cfg.get("dist", "ddp")
        self.grad_sync = None
        for name in self.task.module_names:
            m = self.task.module(name).to(self.device)
            if self.channels_last:
                m = m.to(memory_format=torch.channels_last)
            trainable = any(p.requires_grad for p in m.parameters())
            if dist.world_size() > 1 and trainable and mode == "ddp":
                m = dist.wrap_ddp(m, self.device)
            setattr(self.task, name, m)
        if dist.world_size() > 1 and mode != "ddp":
            modules = [self.task.module(n) for n in self.task.module_names]
            self.grad_sync = collective.SYNCS[mode](modules)

    def _build_optimizers(self, epochs: int) -> None:
        self.optimizers = dict(self.task.configure_optimizers())
        steps = max(1, self._steps() // self.accumulate)
        sched_cfg = self.task.cfg["schedule"]
        self.schedulers = {
            name: build_scheduler(opt, sched_cfg, steps, epochs)
            for name, opt in self.optimizers.items()
        }

    # -- one epoch -----------------------------------------------------------------------
    def _loss(self, out: dict[str, Any]) -> torch.Tensor:
        if "loss" in out:
            return out["loss"]
        losses = [v for k, v in out.items() if k.endswith("loss")]
        if not losses:
            raise UserError(f"{self.task.name}: training_step returned no loss (got {sorted(out)})")
        return sum(losses)  # type: ignore[return-value]

    def _sync(self, losses: list[torch.Tensor], steps: list[int], epoch: int) -> list[float]:
        """The losses of a window of steps as floats, in one host sync (reading each loss as
        it comes would stall a GPU every step); raises at the first non-finite one."""
        if not losses:
            return []
        values = torch.stack([v.detach().float().reshape(()) for v in losses]).cpu()
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise UserError(
                f"loss became {float(values[i])} at epoch {epoch}, step {steps[i]}: lower "
                "optimizer.lr or set train.grad_clip"
            )
        floats = values.tolist()
        if self.on_steps is not None and dist.is_main_process():
            self.on_steps(list(zip(steps, floats, strict=True)), self._lrs())
        return floats

    def _train_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        task = self.task
        for name in task.module_names:
            task.module(name).train()
        steps = self._steps()
        sums: dict[str, Any] = {}  # weighted sums of the step outputs, kept on the device
        examples = tokens = batches = 0
        weight_total = 0.0
        window: list[torch.Tensor] = []  # losses since the last host sync
        window_steps: list[int] = []
        lr_used = self._lrs()
        bar = progress(
            itertools.islice(task.train_batches(epoch), steps),  # never a batch too many
            total=steps,
            desc=f"epoch {epoch}/{epochs}",
            enabled=self.show_progress and dist.is_main_process(),
        )
        start = time.perf_counter()
        for i, batch in enumerate(bar):
            batch = to_device(batch, self.device, self.channels_last)
            boundary = (i + 1) % self.accumulate == 0 or i + 1 == steps
            if not task.manual_optimization and (i % self.accumulate == 0):
                for opt in self.optimizers.values():
                    opt.zero_grad(set_to_none=True)
            sync = contextlib.nullcontext() if boundary else dist.no_sync(task)
            with sync:
                with self.autocast():
                    out = task.training_step(batch, self.step)
                loss = self._loss(out) if not task.manual_optimization else out.get("loss")
                if loss is not None:
                    window_steps.append(self.step)
                    window.append(loss.detach() if torch.is_tensor(loss) else torch.tensor(loss))
                if not task.manual_optimization:
                    self.backward(loss)
            if boundary:
                if not task.manual_optimization and self.grad_sync is not None:
                    self.grad_sync.step(self, list(self.optimizers))  # ring / parameter server
                elif not task.manual_optimization:
                    for name in self.optimizers:
                        self.step_optimizer(name)
                self.scaler.update()  # once per iteration, after every optimizer stepped
                lr_used = self._lrs()
                for sched in self.schedulers.values():
                    sched.step()
                self.step += 1
            n_ex, n_tok = task.batch_size(batch)
            weight = n_tok if task.log_per_token else n_ex
            examples, tokens, batches, weight_total = (
                examples + n_ex, tokens + n_tok, batches + 1, weight_total + weight
            )
            for k, v in out.items():
                v = v.detach().double() if torch.is_tensor(v) else float(v)
                sums[k] = sums.get(k, 0.0) + v * weight
            if len(window) >= SYNC_EVERY or i + 1 == steps:
                values = self._sync(window, window_steps, epoch)
                if values:
                    show(bar, loss=f"{values[-1]:.4f}")
                window, window_steps = [], []
        elapsed = time.perf_counter() - start
        self._sync(window, window_steps, epoch)  # a task that stopped its data early
        task.end_train_epoch(epoch)
        totals = {k: torch.as_tensor(v, dtype=torch.float64).cpu() for k, v in sums.items()}
        count = torch.tensor([examples, tokens, batches, weight_total], dtype=torch.float64)
        for v in [*totals.values(), count]:
            dist.all_reduce_sum(v)
        examples, tokens, weight = float(count[0]), float(count[1]), float(count[3])
        self.train_seconds += elapsed
        self.train_examples += int(examples)
        self.train_tokens += int(tokens)
        row = {f"train_{k}": float(v) / weight for k, v in totals.items() if weight}
        row.update({f"lr{'' if n == 'main' else '_' + n}": lr for n, lr in lr_used.items()})
        row["epoch_seconds"] = elapsed
        row["examples_per_s"] = examples / elapsed if elapsed > 0 else 0.0
        if tokens:
            row["tokens_per_s"] = tokens / elapsed if elapsed > 0 else 0.0
        return row

    def _steps(self) -> int:
        """Batches per epoch: the task's, or train.limit_batches when that is smaller."""
        steps = self.task.steps_per_epoch()
        return min(steps, self.limit_batches) if self.limit_batches > 0 else steps

    def _lrs(self) -> dict[str, float]:
        """The lr of each optimizer's first group as it is now (before its next step)."""
        out = {}
        for name, opt in self.optimizers.items():
            groups = getattr(opt, "param_groups", None)
            if groups:
                out[name] = float(groups[0]["lr"])
        return out

    @torch.no_grad()
    def _evaluate(self, split: str) -> dict[str, float]:
        for name in self.task.module_names:
            self.task.module(name).eval()
        with self.autocast():
            metrics = self.task.evaluate(split)
        return {f"{split}_{k}": float(v) for k, v in metrics.items()}

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self, phase_done: bool = False) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "task": self.task.name,
            "phase": self.phase_index,
            "phase_done": phase_done,
            "phase_results": self.phase_results,
            "epoch": self.epoch,
            "step": self.step,
            "modules": {n: self.task.module(n).state_dict() for n in self.task.module_names},
            # train.best: "modules" are the tested (best) weights, these the last epoch's,
            # from which a finished run extended with --resume goes on training
            "last_modules": self.last_weights if phase_done else None,
            "stopped_early": self.stopped_early if phase_done else False,
            # in the same file as the training state, so a kill can never leave them apart
            "best": (
                {"modules": self.best_weights, "phase": self.phase_index, "epoch": self.best_epoch}
                if self.best_weights is not None
                else None
            ),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "task_state": self.task.state_dict(),
            "history": self.history,
        }

    def _load_training_state(self, state: dict[str, Any]) -> None:
        modules = state.get("last_modules") or state["modules"]
        for name in self.task.module_names:
            self.task.module(name).load_state_dict(modules[name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.task.load_state_dict(state["task_state"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])

    def _save(self, phase_done: bool = False) -> None:
        if self.checkpoint_path is not None and dist.is_main_process():
            save_checkpoint(self.state_dict(phase_done), self.checkpoint_path)

    # -- the best epoch (train.best, train.patience) --------------------------------------
    def _weights(self) -> dict[str, Any]:
        """A CPU copy of every module's state (training goes on changing the originals)."""
        out = {}
        for n in self.task.module_names:
            state = self.task.module(n).state_dict()
            out[n] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
        return out

    def _tracker(
        self, phase: int, rows: list[dict[str, Any]], state: dict[str, Any] | None
    ) -> BestTracker | None:
        """The phase's tracker, rebuilt from the rows it logged so far (resume), and the best
        weights so far from the checkpoint `state` being resumed."""
        self.best_weights, self.best_epoch = None, 0
        self.last_weights, self.stopped_early = None, False
        if not self.best_metric:
            return None
        mode, patience = self.train_cfg.get("best_mode", "auto"), self.train_cfg.get("patience", 0)
        tracker = BestTracker.from_rows(self.best_metric, mode, patience, rows)
        if tracker.best_epoch:
            best = (state or {}).get("best") or {}
            if (best.get("phase"), best.get("epoch")) != (phase, tracker.best_epoch):
                raise UserError(
                    f"{self.checkpoint_path} does not hold the weights of epoch "
                    f"{tracker.best_epoch}, the best by train.best = {self.best_metric!r} "
                    "(was it trained with another train.best?): start a new run instead"
                )
            self.best_weights, self.best_epoch = best["modules"], tracker.best_epoch
        return tracker

    def _track(self, tracker: BestTracker | None, row: dict[str, Any]) -> bool:
        """Keep the epoch's weights if it is the best so far (they go into the checkpoint
        written next); True if the phase should stop."""
        if tracker is None:
            return False
        improved = tracker.update(self.epoch, row)
        decision = (improved, tracker.should_stop())
        if dist.world_size() > 1:  # every rank keeps and stops at rank 0's epochs
            decision = tuple(dist.broadcast_object(list(decision)))
        if decision[0]:
            self.best_weights, self.best_epoch = self._weights(), self.epoch
        return bool(decision[1])

    def _restore_best(self, tracker: BestTracker | None) -> dict[str, Any]:
        """Put the best epoch's weights back for the test; what the phase's row adds."""
        if tracker is None or self.best_weights is None:
            return {}
        self.last_weights = self._weights()
        for name in self.task.module_names:
            self.task.module(name).load_state_dict(self.best_weights[name])
        out: dict[str, Any] = {"best_epoch": self.best_epoch}
        if self.stopped_early:
            out["stopped_epoch"] = self.epoch
        return out

    # -- the loop ------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train every phase to its epochs (continuing a checkpoint if `resume`), then test."""
        task = self.task
        seed_everything(int(self.train_cfg["seed"]))
        task.setup()
        phases = task.phases()
        state = None
        if resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            state = load_checkpoint(self.checkpoint_path, map_location="cpu")
            if state.get("format") != CHECKPOINT_FORMAT or state.get("task") != task.name:
                raise UserError(
                    f"{self.checkpoint_path} is not a checkpoint of a {task.name!r} run of this "
                    "scratchdl version: start a new run instead of --resume"
                )
            self.history = list(state["history"])
            self.phase_results = dict(state["phase_results"])
            self.phase_index = int(state["phase"])
            if state["phase_done"]:  # finished phase: continue it only if it is the last
                last = self.phase_index == len(phases) - 1
                longer = phases[-1][1] > int(state["epoch"]) and not state.get("stopped_early")
                if not (last and longer):
                    self.phase_index += 1
                    state = None
            if self.on_history is not None:
                self.on_history(self.history)
        start_phase = self.phase_index
        for k in range(start_phase, len(phases)):
            name, epochs = phases[k]
            self.phase_index = k
            self.epoch, self.step = 0, 0
            task.setup_phase(name)
            self._prepare_modules()
            self._build_optimizers(epochs)
            if state is not None and k == start_phase:
                self._load_training_state(state)
                self.phase_results.pop(name, None)
            if k == start_phase and self.on_setup is not None:
                self.on_setup()
            mine = [r for r in self.history if r.get("phase", k) == k] if name else self.history
            tracker = self._tracker(k, mine, state if k == start_phase else None)
            while self.epoch < epochs:
                epoch = self.epoch + 1
                row: dict[str, float] = {"epoch": len(self.history) + 1}
                if name:
                    row.update(phase=k, phase_epoch=epoch)
                row.update(self._train_epoch(epoch, epochs))
                row.update(self._evaluate("val"))
                self.epoch = epoch
                self.history.append(row)
                stop = self._track(tracker, row)
                self._save()
                if self.on_epoch_end is not None:
                    self.on_epoch_end(int(row["epoch"]), row)
                if stop:
                    self.stopped_early = True
                    break
            best = self._restore_best(tracker)
            for m in task.module_names:
                task.module(m).eval()
            rng_before_test = rng_state()
            with torch.no_grad(), self.autocast():
                tested = task.test()
            # the test's random draws must not shift training: a finished run extended with
            # --resume then continues exactly as a run that was longer from the start
            set_rng_state(rng_before_test)
            mine = [r for r in self.history if r.get("phase", k) == k] if name else self.history
            row = mine[best["best_epoch"] - 1] if best else (mine[-1] if mine else {})
            self.phase_results[name] = {**row, **best, **tested}
            self._save(phase_done=True)
        final = dict(task.summary(self.phase_results))
        if self.train_seconds > 0:  # throughput of this process's epochs (none if all resumed)
            final["examples_per_s"] = self.train_examples / self.train_seconds
            if self.train_tokens:
                final["tokens_per_s"] = self.train_tokens / self.train_seconds
        final.setdefault("parameters", self.parameter_count())
        return final

    def parameter_count(self) -> int:
        seen: set[int] = set()
        total = 0
        for name in self.task.module_names:
            for p in self.task.module(name).parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
        return total


def check_capabilities(task: type[Task], train_cfg: dict[str, Any]) -> None:
    """train.* settings a task cannot honour are rejected, never ignored."""
    amp = train_cfg.get("amp", "none")
    if amp not in ("none", False, "auto") and not task.supports_amp:
        raise UserError(f"task {task.name!r} trains without autograd: train.amp must be 'none'")
    if train_cfg.get("channels_last") and not task.supports_channels_last:
        raise UserError(
            f"task {task.name!r} has no image batches: train.channels_last must be false"
        )
    acc = train_cfg.get("accumulate", 1)
    if isinstance(acc, bool) or not isinstance(acc, int) or acc < 1:
        raise UserError(f"train.accumulate must be an integer >= 1, got {acc!r}")
    if acc > 1 and task.manual_optimization:
        raise UserError(f"task {task.name!r} steps its own optimizers: train.accumulate must be 1")
    check_best_config(train_cfg)
    mode = train_cfg.get("dist", "ddp")
    if mode not in dist.DIST_MODES:
        raise UserError(f"train.dist must be one of {', '.join(dist.DIST_MODES)}, got {mode!r}")
    if mode != "ddp" and task.manual_optimization:
        raise UserError(
            f"task {task.name!r} steps its own optimizers: train.dist={mode} needs the engine "
            "to step them; use train.dist=ddp"
        )
    if mode != "ddp" and amp == "fp16":
        raise UserError(f"train.dist={mode} sums fp32 gradients: use train.amp=bf16 or none")
    if dist.world_size() > 1 and not task.supports_ddp:
        raise UserError(f"task {task.name!r} runs in one process: start it without --nproc")
