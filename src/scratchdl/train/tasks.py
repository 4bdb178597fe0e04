"""Task registry: a recipe's `task` key names the function that trains it.

A task gets a RunContext (resolved config, run directory, logging) and returns its final
metrics. "classify" is the standard epoch loop; from-scratch recipes register their own.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scratchdl.errors import UserError

if TYPE_CHECKING:
    from scratchdl.train.run import RunContext

Task = Callable[["RunContext"], dict[str, Any]]
_TASKS: dict[str, Task] = {}
# Modules that register tasks, imported on first lookup (keeps the CLI start fast).
TASK_MODULES = ["scratchdl.train.classify"]


def register_task(name: str) -> Callable[[Task], Task]:
    def wrap(fn: Task) -> Task:
        _TASKS[name] = fn
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
