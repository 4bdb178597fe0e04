"""Task registry: a recipe's `task` key names a Task class (scratchdl.train.task.Task).

Every module below this package is imported on first lookup (no hand-kept list): a new task
is one new file in its domain's folder (vision/, text/, generative/, classic/) with a class
decorated by @register_task("name"). Modules whose name starts with "_" are helpers of the
tasks beside them, not tasks.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable

from scratchdl.errors import UserError
from scratchdl.train.task import Task

_TASKS: dict[str, type[Task]] = {}
_LOADED = False


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: make `cls` the task that recipes name with task = "name"."""

    def wrap(cls: type[Task]) -> type[Task]:
        if name in _TASKS and _TASKS[name] is not cls:
            raise ValueError(f"task {name!r} registered twice")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return wrap


def _load_all() -> None:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                importlib.import_module(info.name)
        _LOADED = True


def list_tasks() -> list[str]:
    _load_all()
    return sorted(_TASKS)


def get_task(name: str) -> type[Task]:
    """The Task class registered as `name` (a one-line error with suggestions otherwise)."""
    _load_all()
    if name not in _TASKS:
        close = difflib.get_close_matches(name, _TASKS, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown task {name!r}{hint} (known: {', '.join(sorted(_TASKS))})")
    return _TASKS[name]
