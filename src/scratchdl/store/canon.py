"""Canonical form of a resolved config: equal configs give equal strings, NaN included.

JSON has no NaN and Python's NaN never equals itself, so text recipes (target.value = nan)
would otherwise never match their own stored runs. Every comparison of configs in the store,
reuse and reports goes through here.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from scratchdl.config import flatten


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return f"<float {value}>"  # nan/inf as a string: equal to itself
    return value


def canonical(cfg: dict[str, Any], *, without_seed: bool = False) -> str:
    """A sorted JSON string of `cfg`; `without_seed` drops train.seed (a setting over seeds)."""
    flat = flatten(cfg)
    if without_seed:
        flat.pop("train.seed", None)
    return json.dumps(_normal(flat), sort_keys=True, default=str)


def config_key(cfg: dict[str, Any]) -> str:
    """A short hash of the canonical config (seed included): the key of a claim."""
    return hashlib.sha256(canonical(cfg).encode()).hexdigest()[:32]


def same_value(a: Any, b: Any) -> bool:
    """Equality in which NaN equals NaN (also inside lists)."""
    return json.dumps(_normal(a), sort_keys=True) == json.dumps(_normal(b), sort_keys=True)


def differing_keys(cfg: dict[str, Any], base: dict[str, Any]) -> list[str]:
    """Dotted keys whose value differs between `cfg` and `base` (missing counts as differing),
    train.seed excluded, sorted."""
    flat, ref = flatten(cfg), flatten(base)
    return sorted(
        k
        for k in set(flat) | set(ref)
        if k != "train.seed"
        and ((k in flat) != (k in ref) or not same_value(flat.get(k), ref.get(k)))
    )
