"""Learning-rate schedules: each a pure function `lr_at(step, base_lr)`, usable on any torch
optimizer through `ScheduledLR`, and built by name with `build_schedule`.

`step` counts scheduler steps from 0 (call `scheduler.step()` once per optimizer step, after
it); `base_lr` is the optimizer's initial lr (per param group). Closed forms:

    constant       base
    step           base * gamma ^ floor(step / step_size)                 (= torch StepLR)
    multistep      base * gamma ^ (number of milestones <= step)          (= torch MultiStepLR)
    cosine         eta_min + (base - eta_min) * (1 + cos(pi * step / T)) / 2, eta_min after T
                                              (= torch CosineAnnealingLR up to T, which then rises)
    linear         base * (s + (e - s) * min(step, T) / T)                (= torch LinearLR)
    inverse_sqrt   base * sqrt(tau / (step + tau))      (plain form; after a warm-up of tau
                   steps this is fairseq's base * sqrt(warmup / global_step))
    noam           base * d_model^-0.5 * min(n^-0.5, n * warmup^-1.5), n = step + 1
                   (the Transformer paper's form with its own warm-up; n is the paper's step_num)
    warm-up        in front of any of them: for step < W the lr rises linearly from
                   start_factor * L0 to L0 (L0 = the inner schedule's lr at its step 0), then
                   the inner schedule runs from its own step 0 (= torch LinearLR followed by
                   the inner scheduler in SequentialLR(milestones=[W])).
"""

import bisect
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from scratchdl.errors import UserError
from scratchdl.scratch.optim import DictOptimizer


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_float(name: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise UserError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


class Schedule:
    """A learning rate as a pure function of the step. Subclasses implement `_lr`."""

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        """The lr after `step` scheduler steps (step 0 = before any), for this base lr."""
        _check_int("step", step, 0)
        return self._lr(step, base_lr)

    def _lr(self, step: int, base_lr: float) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantSchedule(Schedule):
    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr


@dataclass(frozen=True)
class StepSchedule(Schedule):
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _check_int("step_size", self.step_size, 1)
        _check_float("gamma", self.gamma, 0.0)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class MultiStepSchedule(Schedule):
    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.milestones, Sequence) or isinstance(self.milestones, str):
            raise UserError(f"milestones must be a list of steps, got {self.milestones!r}")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        for m in self.milestones:
            _check_int("each milestone", m, 1)
        if list(self.milestones) != sorted(set(self.milestones)):
            raise UserError(f"milestones must be strictly increasing, got {list(self.milestones)}")
        _check_float("gamma", self.gamma, 0.0)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, step)


@dataclass(frozen=True)
class CosineSchedule(Schedule):
    total_steps: int
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        _check_int("total_steps", self.total_steps, 1)
        _check_float("eta_min", self.eta_min, 0.0)

    def _lr(self, step: int, base_lr: float) -> float:
        if step >= self.total_steps:
            return self.eta_min
        cosine = (1 + math.cos(math.pi * step / self.total_steps)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


@dataclass(frozen=True)
class LinearSchedule(Schedule):
    total_steps: int
    start_factor: float = 1.0
    end_factor: float = 0.0

    def __post_init__(self) -> None:
        _check_int("total_steps", self.total_steps, 1)
        _check_float("start_factor", self.start_factor, 0.0)
        _check_float("end_factor", self.end_factor, 0.0)

    def _lr(self, step: int, base_lr: float) -> float:
        progress = min(step, self.total_steps) / self.total_steps
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


@dataclass(frozen=True)
class InverseSqrtSchedule(Schedule):
    """base * sqrt(timescale / (step + timescale)): starts at base, halves by step 3 * timescale."""

    timescale: int = 1

    def __post_init__(self) -> None:
        _check_int("timescale", self.timescale, 1)

    def _lr(self, step: int, base_lr: float) -> float:
        return base_lr * math.sqrt(self.timescale / (step + self.timescale))


@dataclass(frozen=True)
class NoamSchedule(Schedule):
    """The Transformer's schedule (Vaswani et al., 2017, eq. 3); base_lr acts as a factor.

    Rises linearly for `warmup_steps` steps, peaks at base / sqrt(d_model * warmup_steps),
    then decays as 1 / sqrt(step)."""

    d_model: int
    warmup_steps: int

    def __post_init__(self) -> None:
        _check_int("d_model", self.d_model, 1)
        _check_int("warmup_steps", self.warmup_steps, 1)

    def _lr(self, step: int, base_lr: float) -> float:
        n = step + 1
        return base_lr * self.d_model**-0.5 * min(n**-0.5, n * self.warmup_steps**-1.5)


@dataclass(frozen=True)
class WarmupWrapper(Schedule):
    """Linear warm-up for `warmup_steps` steps in front of `schedule` (see the module doc)."""

    schedule: Schedule
    warmup_steps: int
    start_factor: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise UserError(f"schedule must be a Schedule, got {type(self.schedule).__name__}")
        _check_int("warmup_steps", self.warmup_steps, 0)
        _check_float("warmup start_factor", self.start_factor, 0.0, 1.0)

    def _lr(self, step: int, base_lr: float) -> float:
        if step >= self.warmup_steps:
            return self.schedule.lr_at(step - self.warmup_steps, base_lr)
        ramp = self.start_factor + (1 - self.start_factor) * step / self.warmup_steps
        return self.schedule.lr_at(0, base_lr) * ramp


class ScheduledLR(LRScheduler):
    """A torch LR scheduler driven by a Schedule: sets each group's lr to lr_at(step, base_lr).

    Works on any torch.optim.Optimizer (or a DictOptimizer). state_dict holds only plain
    values (the Schedule is configuration: rebuild it, then load_state_dict)."""

    def __init__(self, optimizer: Any, schedule: Schedule, last_epoch: int = -1) -> None:
        if isinstance(optimizer, DictOptimizer):
            optimizer = optimizer.optimizer
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise UserError(
                f"a schedule needs a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if not isinstance(schedule, Schedule):
            raise UserError(f"schedule must be a Schedule, got {type(schedule).__name__}")
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.schedule.lr_at(self.last_epoch, base_lr) for base_lr in self.base_lrs]

    # Closed form already: also serves step(epoch) and SequentialLR's jump to a milestone.
    _get_closed_form_lr = get_lr

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.pop("schedule")
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "schedule"})


# name -> (hyperparameters it takes besides warmup_steps / warmup_start_factor)
SCHEDULES: dict[str, tuple[str, ...]] = {
    "none": (),
    "step": ("step_size", "gamma"),
    "multistep": ("milestones", "gamma"),
    "cosine": ("eta_min",),
    "linear": ("start_factor", "end_factor"),
    "inverse_sqrt": ("timescale", "d_model"),
}


def make_schedule(name: str, total_steps: int, **hp: Any) -> Schedule:
    """The pure Schedule `name` spanning `total_steps` steps, warm-up included.

    Common hp: warmup_steps (default 0, must be < total_steps), warmup_start_factor (0.0).
    The main schedule gets the remaining `total_steps - warmup_steps` steps. Defaults: step
    step_size = a third of them, gamma 0.1; multistep milestones at 50% and 75% of them
    (counted from the end of warm-up); cosine eta_min 0; linear from 1.0 to 0.0;
    inverse_sqrt timescale = max(warmup_steps, 1). inverse_sqrt with d_model is the
    Transformer (Noam) form, which does its own warm-up over warmup_steps (>= 1).
    """
    if name not in SCHEDULES:
        close = difflib.get_close_matches(str(name), SCHEDULES, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UserError(f"unknown schedule {name!r}; {hint}choose one of {', '.join(SCHEDULES)}")
    allowed = SCHEDULES[name] + ("warmup_steps", "warmup_start_factor")
    unknown = sorted(set(hp) - set(allowed))
    if unknown:
        raise UserError(
            f"unknown hyperparameter(s) {unknown} for schedule {name!r}; "
            f"expected some of {', '.join(allowed)}"
        )
    _check_int("total_steps", total_steps, 1)
    warmup = _check_int("warmup_steps", hp.get("warmup_steps", 0), 0)
    if warmup >= total_steps:
        raise UserError(
            f"warmup_steps must be < total_steps ({total_steps}), got {warmup}; shorten the warm-up"
        )
    start_factor = _check_float("warmup_start_factor", hp.get("warmup_start_factor", 0.0), 0, 1)
    main = total_steps - warmup
    gamma = hp.get("gamma", 0.1)
    if name == "inverse_sqrt" and "d_model" in hp:
        if "timescale" in hp:
            raise UserError("inverse_sqrt takes timescale (plain form) or d_model (Noam), not both")
        if warmup == 0 or "warmup_start_factor" in hp:
            raise UserError(
                "inverse_sqrt with d_model (Transformer form) needs warmup_steps >= 1 and "
                "no warmup_start_factor (its warm-up is part of the formula)"
            )
        return NoamSchedule(hp["d_model"], warmup)  # its warm-up is built in
    schedule: Schedule
    if name == "none":
        schedule = ConstantSchedule()
    elif name == "step":
        schedule = StepSchedule(hp.get("step_size", max(1, main // 3)), gamma)
    elif name == "multistep":
        default = sorted({max(1, main // 2), max(1, 3 * main // 4)})
        schedule = MultiStepSchedule(hp.get("milestones", default), gamma)
    elif name == "cosine":
        schedule = CosineSchedule(main, hp.get("eta_min", 0.0))
    elif name == "linear":
        schedule = LinearSchedule(main, hp.get("start_factor", 1.0), hp.get("end_factor", 0.0))
    else:
        schedule = InverseSqrtSchedule(hp.get("timescale", max(warmup, 1)))
    if warmup == 0:
        return schedule
    return WarmupWrapper(schedule, warmup, start_factor)


def build_schedule(name: str, optimizer: Any, total_steps: int, **hp: Any) -> ScheduledLR:
    """A torch LR scheduler for `optimizer` following make_schedule(name, total_steps, **hp)."""
    return ScheduledLR(optimizer, make_schedule(name, total_steps, **hp))
