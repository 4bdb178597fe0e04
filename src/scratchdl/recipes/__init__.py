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

# Plain data beside the training settings, read apart from the config (never resolved, never
# --set, never in a run's config.toml): the recipe's chapter (scratchdl.recipes.chapters) and
# its shipped result, `[result]` beside `[target]`, from which README's table is generated.
RESULT_KEYS: dict[str, tuple[type | tuple[type, ...], bool, str]] = {
    # key: (type, required, doc)
    "what": (str, True, "the recipe in at most 8 words"),
    "published": (str, True, "the published number (or our target), in a few words"),
    "value": ((int, float), True, "the measured value of target.metric"),
    "command": (str, True, "the command that measured it"),
    "date": (str, True, "when it was measured (YYYY-MM-DD)"),
    "wall_seconds": ((int, float), True, "wall_seconds of that run (training and evaluation)"),
    "machine": (str, True, "where: CPU, threads, idle or shared"),
    "under_load": (bool, False, "true: other work shared the machine (wall time an upper bound)"),
    "wall_approx": (bool, False, "true: the wall time is approximate"),
    "note": (str, False, "a few words"),
}


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


def _split_data(raw: Config, source: str) -> tuple[Config, dict[str, Any]]:
    """(the config part, the plain data part: chapter and result), the data checked."""
    from scratchdl.recipes.chapters import SLUGS

    data = {k: raw[k] for k in ("chapter", "result") if k in raw}
    chapter = data.get("chapter")
    if chapter is not None and chapter not in SLUGS:
        raise UserError(f"{source}: chapter = {chapter!r} is not one of {', '.join(SLUGS)}")
    result = data.get("result")
    if result is not None:
        if not isinstance(result, dict):
            raise UserError(f"{source}: result must be a table ([result])")
        unknown = sorted(set(result) - set(RESULT_KEYS))
        missing = [k for k, (_, required, _) in RESULT_KEYS.items() if required and k not in result]
        if unknown or missing:
            raise UserError(f"{source}: [result] unknown keys {unknown}, missing keys {missing}")
        for key, value in result.items():
            kind = RESULT_KEYS[key][0]
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                raise UserError(f"{source}: result.{key} = {value!r} has the wrong type")
    return {k: v for k, v in raw.items() if k not in data}, data


def recipe_data(name: str) -> dict[str, Any]:
    """A recipe's chapter and shipped result ({} where the file has neither)."""
    path = recipe_path(name)
    return _split_data(load_toml(path), str(path))[1]


def load_recipe(name: str, overrides: list[str] | None = None) -> Config:
    """Resolved config for recipe `name` with `--set` overrides applied."""
    path = recipe_path(name)
    raw, _ = _split_data(load_toml(path), str(path))
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
