"""Check a resolved config and the run's paths before anything is registered or written.

A bad value found after the store row and run directory exist leaves a `failed` row and an
empty folder behind; `preflight` catches what can be caught up front (types against the
defaults schema, ranges of common keys, the device, `--out`, `--resume`, batch vs data size)
and raises one-line `UserError`s naming the key, what was expected and how to fix it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scratchdl.config import Config, deep_merge, flatten
from scratchdl.errors import UserError

# Keys whose default is an int but that also take a float (a fraction of the training set).
ALSO_FLOAT = {"data.val_size"}

# Range checks for common keys: key -> (test, what is expected).
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "optimizer.lr": (lambda v: v > 0, "> 0"),
    "optimizer.weight_decay": (lambda v: v >= 0, ">= 0"),
    "optimizer.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "data.batch_size": (lambda v: v >= 1, ">= 1"),
    "data.eval_batch_size": (lambda v: v >= 1, ">= 1"),
    "data.val_size": (lambda v: v >= 0, ">= 0 (a count, or a fraction in [0, 1))"),
    "data.image_size": (lambda v: v >= 0, ">= 0 (0 = the data's own size)"),
    "train.epochs": (lambda v: v >= 1, ">= 1"),
    "train.grad_clip": (lambda v: v >= 0, ">= 0 (0 = off)"),
    "schedule.warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "schedule.step_epochs": (lambda v: v > 0, "> 0"),
    "schedule.warmup_steps": (lambda v: v >= 0, ">= 0"),
    "train.accumulate": (lambda v: v >= 1, ">= 1"),
    "train.limit_batches": (lambda v: v >= 0, ">= 0 (0 = every batch)"),
}

# Tasks whose data.batch_size counts images of a registered image dataset.
IMAGE_TASKS = {"classify", "linear-scratch", "net-scratch"}


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list"}.get(
        type(value), type(value).__name__
    )


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def schema(cfg: Config) -> dict[str, Any]:
    """Flat key -> default for `cfg`'s task and model: the types a config must have."""
    from scratchdl.recipes import _model_options
    from scratchdl.recipes.defaults import DEFAULTS
    from scratchdl.tasks import get_task

    flat = flatten(deep_merge(DEFAULTS, get_task(cfg.get("task", DEFAULTS["task"])).defaults))
    model = cfg.get("model", {}).get("name", DEFAULTS["model"]["name"])
    options = _model_options(cfg.get("task", DEFAULTS["task"]), model)
    flat.update({f"model.{k}": v for k, v in options.items()})
    return flat


def _type_ok(key: str, value: Any, default: Any) -> bool:
    if default is None:  # an option without a typed default: the model checks it
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(default, int):
        return isinstance(value, int) or (key in ALSO_FLOAT and isinstance(value, float))
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def check_types(cfg: Config, source: str = "the config") -> None:
    """Every key's value has its default's type (an int may stand for a float); fixes ints."""
    defaults = schema(cfg)
    for key, value in flatten(cfg).items():
        if key not in defaults or _type_ok(key, value, defaults[key]):
            if isinstance(defaults.get(key), float) and isinstance(value, int):
                _set(cfg, key, float(value))
            continue
        default = defaults[key]
        raise UserError(
            f"{source}: {key} = {value!r} must be {_article(_type_name(default))} "
            f"(like the default {default!r}), got {_article(_type_name(value))}"
        )


def _set(cfg: Config, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = value


def _model_range(key: str, value: Any, default: Any) -> str | None:
    """Generic checks on model options: *dropout* in [0, 1); sizes never negative.

    0 often means "off" (se_reduction, embed_size), so a positive default only rules out
    negative values.
    """
    leaf = key.rsplit(".", 1)[-1]
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)) and default:
        numeric = all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in default)
        if numeric and any(isinstance(v, (int, float)) and v < 0 for v in value):
            return "a list of numbers >= 0"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if "dropout" in leaf and not 0 <= value < 1:
        return "in [0, 1)"
    if isinstance(default, (int, float)) and not isinstance(default, bool) and default >= 0:
        if value < 0 or not math.isfinite(value):
            return ">= 0"
    return None


def check_ranges(cfg: Config, source: str | Callable[[str], str] = "the config") -> None:
    """Common keys and model options within range; `source(key)` names where a key came from."""
    where = source if callable(source) else (lambda key: source)
    defaults = schema(cfg)
    for key, value in flatten(cfg).items():
        expected = None
        if key in RANGES and not isinstance(value, bool) and isinstance(value, (int, float)):
            test, text = RANGES[key]
            expected = None if (math.isfinite(value) and test(value)) else text
        elif key.startswith("model.") and key != "model.name":
            expected = _model_range(key, value, defaults.get(key))
        if expected:
            raise UserError(f"{where(key)}: {key} = {value!r} must be {expected}")
    if isinstance(cfg.get("data", {}).get("val_size"), float) and cfg["data"]["val_size"] >= 1:
        raise UserError(
            f"{where('data.val_size')}: data.val_size = {cfg['data']['val_size']} as a fraction "
            "must be < 1 (or give an int count)"
        )


def check_choices(cfg: Config) -> None:
    """optimizer.name, schedule.name and train.device name things that exist here."""
    from scratchdl.train.device import resolve_device
    from scratchdl.train.distributed import DIST_MODES
    from scratchdl.train.optim import KERNELS, OPTIMIZERS, SCHEDULES

    for key, allowed in (
        ("optimizer.name", OPTIMIZERS),
        ("optimizer.kernel", KERNELS),
        ("schedule.name", SCHEDULES),
        ("train.dist", DIST_MODES),
    ):
        table, leaf = key.split(".")
        value = cfg.get(table, {}).get(leaf)
        if value is not None and value not in allowed:
            raise UserError(f"{key} = {value!r}: expected one of {', '.join(allowed)}")
    device = cfg.get("train", {}).get("device")
    if isinstance(device, str):
        resolve_device(device)
    if cfg.get("train", {}).get("tensorboard"):
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise UserError(
                "train.tensorboard = true needs the tensorboard package: "
                "pip install 'scratchdl[tensorboard]' (or set train.tensorboard = false)"
            )


def check_data_size(cfg: Config) -> None:
    """A batch larger than the training split would make every epoch one short batch."""
    if cfg.get("task") not in IMAGE_TASKS:
        return
    from scratchdl.data.registry import _REGISTRY
    from scratchdl.data.splits import _val_count, raw_arrays

    data = cfg["data"]
    spec = _REGISTRY.get(data["dataset"])
    if spec is None or not spec.is_present():
        return  # the task says how to get it (or that it is unknown)
    n = len(raw_arrays(data["dataset"]).train_y)
    n_train = n - _val_count(data["val_size"], n)
    if data["batch_size"] > n_train:
        raise UserError(
            f"data.batch_size = {data['batch_size']} is larger than the training set "
            f"({n} images - {n - n_train} held out by data.val_size = {n_train}): "
            f"use --set data.batch_size={min(256, n_train)} or less"
        )


def check_out(out: str | Path) -> None:
    """--out must be a folder (or not exist yet) that this user can write in."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {out} is a file, not a folder: choose a folder path")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: cannot write in {probe}: choose a writable folder")


def check_resume(resume: str | Path) -> None:
    """A resumable run directory has meta.json, config.toml and a checkpoint.pt."""
    run_dir = Path(resume)
    if not (run_dir / "config.toml").is_file() or not (run_dir / "meta.json").is_file():
        raise UserError(f"{resume} is not a scratchdl run directory (no config.toml/meta.json)")
    if not (run_dir / "checkpoint.pt").is_file():
        from scratchdl.config import load_toml

        recipe = load_toml(run_dir / "config.toml").get("recipe", "RECIPE")
        raise UserError(
            f"{resume} has no checkpoint.pt (it never finished an epoch), so there is nothing "
            f"to resume: start again with `scratchdl run {recipe} --out NEW_DIR`"
        )


def check_task(cfg: Config) -> None:
    """What the task itself and the engine would refuse (train.amp, channels_last, ...)."""
    from scratchdl.tasks import get_task
    from scratchdl.train.device import resolve_device
    from scratchdl.train.engine import amp_mode, check_capabilities

    task = get_task(cfg["task"])
    check_capabilities(task, cfg["train"])
    amp_mode(cfg["train"].get("amp", "none"), resolve_device(cfg["train"]["device"]))
    task.check_config(cfg)


def validate(cfg: Config, source: str | Callable[[str], str] = "the config") -> None:
    """Types, ranges and choices of a resolved config (no paths, no data)."""
    check_types(cfg, source if isinstance(source, str) else "the config")
    check_ranges(cfg, source)
    check_choices(cfg)


def preflight(
    cfg: Config, *, out: str | Path | None = None, resume: str | Path | None = None
) -> None:
    """Everything checkable before a run is registered; raises a one-line UserError."""
    validate(cfg)
    check_task(cfg)
    if resume is not None:
        check_resume(resume)
    elif out is not None:
        check_out(out)
    check_data_size(cfg)
