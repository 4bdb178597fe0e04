"""Task registry: a recipe's `task` key names the function that trains it.

A task gets a RunContext (resolved config, run directory, logging) and returns its final
metrics. "classify" is the standard epoch loop; from-scratch recipes register their own.
A task may bring extra config tables (`defaults`) and its own model registry
(`model_options`: model name -> that model's options with defaults).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scratchdl.errors import UserError

if TYPE_CHECKING:
    from scratchdl.train.run import RunContext

TaskFn = Callable[["RunContext"], dict[str, Any]]
# Modules that register tasks, imported on first lookup (keeps the CLI start fast).
TASK_MODULES = [
    "scratchdl.train.classify",
    "scratchdl.scratch.tasks",
    "scratchdl.vision.transfer",
    "scratchdl.text.seq2seq_task",
    "scratchdl.text.lm_tasks",
]


@dataclass
class Task:
    run: TaskFn
    defaults: dict[str, Any] = field(default_factory=dict)
    model_options: Callable[[str], dict[str, Any]] | None = None


_TASKS: dict[str, Task] = {}


def register_task(
    name: str,
    defaults: dict[str, Any] | None = None,
    model_options: Callable[[str], dict[str, Any]] | None = None,
) -> Callable[[TaskFn], TaskFn]:
    def wrap(fn: TaskFn) -> TaskFn:
        _TASKS[name] = Task(fn, defaults or {}, model_options)
        return fn

    return wrap


def get_task(name: str) -> Task:
    for module in TASK_MODULES:
        importlib.import_module(module)
    if name not in _TASKS:
        close = difflib.get_close_matches(name, _TASKS, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown task {name!r}{hint} (known: {', '.join(sorted(_TASKS))})")
    return _TASKS[name]
