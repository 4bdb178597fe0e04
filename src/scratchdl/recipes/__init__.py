"""Recipes: small TOML files in this folder, discoverable by name (the file's stem).

`scratchdl run NAME` finds `NAME.toml` here; a path to any .toml file works too.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

from scratchdl.config import Config, apply_overrides, deep_merge, load_toml
from scratchdl.errors import UserError
from scratchdl.recipes.check import check_ranges, check_types
from scratchdl.recipes.defaults import DEFAULTS

RECIPE_DIR = Path(__file__).parent


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def recipe_path(name: str) -> Path:
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise UserError(f"recipe file not found: {name}")
        return path
    path = RECIPE_DIR / f"{name}.toml"
    if not path.is_file():
        close = difflib.get_close_matches(name, list_recipes(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown recipe {name!r}{hint} (run `scratchdl list` to see all)")
    return path


def resolve(raw: Config, name: str) -> Config:
    """Defaults (+ the task's own tables) <- recipe, model options filled in, keys checked."""
    from scratchdl.tasks import get_task  # lazy: keeps `scratchdl list` fast

    task = get_task(raw.get("task", DEFAULTS["task"]))
    defaults = deep_merge(DEFAULTS, task.defaults)
    unknown = sorted(set(raw) - set(defaults) - {"recipe"})
    for table, value in raw.items():
        if isinstance(value, dict) and table in defaults and table != "model":
            unknown += [f"{table}.{k}" for k in sorted(set(value) - set(defaults[table]))]
    if unknown:
        raise UserError(f"recipe {name}: unknown keys {', '.join(unknown)}")
    cfg = deep_merge(defaults, raw)
    cfg["recipe"] = name
    model = cfg["model"]
    cfg["model"] = {"name": model["name"], **_model_options(cfg["task"], model["name"]), **model}
    return cfg


def _model_options(task_name: str, model: str) -> dict[str, Any]:
    from scratchdl.tasks import get_task

    return get_task(task_name).model_options(model)


def load_recipe(name: str, overrides: list[str] | None = None) -> Config:
    """Resolved config for recipe `name` with `--set` overrides applied."""
    path = recipe_path(name)
    raw = load_toml(path)
    overrides = overrides or []
    # model.name decides which model.* keys exist, so switch the model before resolving;
    # recipe options the new model does not have are dropped.
    new_model = [
        i.split("=", 1)[1].strip() for i in overrides if i.split("=")[0].strip() == "model.name"
    ]
    if new_model and new_model[-1] != raw.get("model", {}).get("name"):
        allowed = _model_options(raw.get("task", DEFAULTS["task"]), new_model[-1])
        old = raw.get("model", {})
        raw = {
            **raw,
            "model": {"name": new_model[-1], **{k: v for k, v in old.items() if k in allowed}},
        }
    # a run's config.toml names its recipe; a bundled or user recipe is named by its file
    name = raw.get("recipe") if isinstance(raw.get("recipe"), str) else path.stem
    cfg = resolve(raw, name)
    check_types(cfg, str(path))
    cfg = apply_overrides(cfg, overrides)
    set_keys = {i.split("=", 1)[0].strip() for i in overrides}
    check_ranges(cfg, lambda key: "--set" if key in set_keys else str(path))
    return cfg


def headline(cfg: Config) -> tuple[str, float]:
    target = cfg["target"]
    return target["metric"], target["value"]


def describe(cfg: Config) -> dict[str, Any]:
    metric, value = headline(cfg)
    return {
        "recipe": cfg["recipe"],
        "dataset": cfg["data"]["dataset"],
        "model": cfg["model"]["name"],
        "metric": metric,
        "target": None if math.isnan(value) else value,
        "source": cfg["target"]["source"],
        "description": cfg["description"],
    }
