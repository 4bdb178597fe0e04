"""Model registry. Importing this package imports every model file in it, and each file
registers its architectures with `@register_model(name)`: add a file, get a model."""

import importlib
import pkgutil

from scratchdl.models.registry import build_model, list_models, model_options, register_model

_NOT_MODELS = {"registry", "blocks", "summary", "resize"}  # helpers, no models
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _NOT_MODELS and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["build_model", "list_models", "model_options", "register_model"]
