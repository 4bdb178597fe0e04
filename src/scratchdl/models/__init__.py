"""Model registry. Importing this package imports every model file in it, and each file
registers its models with `@register_model(name, kind)`: add a file, get a model. Image
classifiers, text models (language.py), hand-written models (scratch.py) and the pretrained
EfficientNet (pretrained.py) share the one registry, each entry tagged with its kind."""

import importlib
import pkgutil

from scratchdl.models.registry import (
    KINDS,
    build_model,
    get_entry,
    list_models,
    model_kind,
    model_options,
    register_model,
)

_NOT_MODELS = {"registry", "blocks", "summary", "resize"}  # helpers, no models
for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _NOT_MODELS and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = [
    "KINDS",
    "build_model",
    "get_entry",
    "list_models",
    "model_kind",
    "model_options",
    "register_model",
]
