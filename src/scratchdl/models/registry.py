"""One registry of models (timm style): a name maps to a builder function.

A builder takes the data's shape as keyword arguments (`in_channels`, `num_classes`,
`image_size`) plus its own options with defaults. Those defaults are what a recipe's
`[model]` table may override, so `model_options(name)` exposes them for `--set` checks.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from scratchdl.errors import UserError

DATA_ARGS = ("in_channels", "num_classes", "image_size")
_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown model {name!r}{hint} (known: {', '.join(list_models())})")
    return _MODELS[name]


def model_options(name: str) -> dict[str, Any]:
    """The builder's own options and their defaults (data-shape arguments excluded)."""
    params = inspect.signature(_builder(name)).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.name not in DATA_ARGS and p.default is not inspect.Parameter.empty
    }


def build_model(
    name: str, *, in_channels: int, num_classes: int, image_size: tuple[int, int], **options: Any
) -> nn.Module:
    """Build a registered model; unknown options raise a UserError listing the allowed ones."""
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"model {name!r} has no option {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
    return _builder(name)(
        in_channels=in_channels, num_classes=num_classes, image_size=tuple(image_size), **options
    )
