"""Recipe configs: plain nested dicts read from TOML, overridden by `--set`, written back resolved.

A config is data (nanoGPT style): tables of scalars and lists. `apply_overrides` only
accepts keys that already exist in the resolved config and values of the same type, so
a typo never silently trains the wrong thing.
"""

from __future__ import annotations

import copy
import difflib
import math
import tomllib
from pathlib import Path
from typing import Any

from scratchdl.errors import UserError

Config = dict[str, Any]


def load_toml(path: str | Path) -> Config:
    """Read a TOML file; a syntax error becomes a one-line UserError."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path} is not valid TOML: {e}") from None


def deep_merge(base: Config, extra: Config) -> Config:
    """Return `base` updated by `extra`, recursing into tables (neither input is changed)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def flatten(cfg: Config, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def get_dotted(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _parse_value(text: str) -> Any:
    """Parse a --set value as a TOML value; bare words fall back to strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list"}.get(
        type(value), type(value).__name__
    )


def _coerce(key: str, new: Any, old: Any, raw: str) -> Any:
    """Make `new` the type of `old`, or explain what type is allowed."""
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
    elif isinstance(old, int):
        if isinstance(new, int) and not isinstance(new, bool):
            return new
    elif isinstance(old, float):
        if isinstance(new, (int, float)) and not isinstance(new, bool) and math.isfinite(new):
            return float(new)
    elif isinstance(old, str):
        return raw if not isinstance(new, str) else new
    elif isinstance(old, list):
        if isinstance(new, list):
            return new
    raise UserError(
        f"--set {key}={raw}: expected a {_type_name(old)} (current value {old!r}), "
        f"got {_type_name(new)}"
    )


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `key=value` strings (dotted keys) to a resolved config, checking keys and types."""
    out = copy.deepcopy(cfg)
    flat = flatten(out)
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set expects key=value (e.g. optimizer.lr=0.01), got {item!r}")
        key, raw = (s.strip() for s in item.split("=", 1))
        if key not in flat:
            close = difflib.get_close_matches(key, flat.keys(), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"--set {key}: unknown key{hint} (allowed: {', '.join(sorted(flat))})")
        value = _coerce(key, _parse_value(raw), flat[key], raw)
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = value
        flat[key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        raise UserError("TOML has no null: use a sentinel such as '' or 0 in the recipe")
    raise UserError(f"cannot write a {type(value).__name__} to TOML")


def dumps_toml(cfg: Config) -> str:
    """Write a nested dict of scalars/lists as TOML (tables after top-level keys)."""
    lines: list[str] = []

    def emit(table: Config, path: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in table.items() if isinstance(v, dict)}
        if path and (scalars or not tables):
            lines.append(f"\n[{path}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml_value(v)}")
        for k, v in tables.items():
            emit(v, f"{path}.{k}" if path else k)

    emit(cfg, "")
    return "\n".join(lines).lstrip("\n") + "\n"


def format_value(value: Any) -> str:
    """A resolved config value as a short label: [64, 32] -> '[64,32]', 0.001 -> '0.001'."""
    if isinstance(value, list):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
