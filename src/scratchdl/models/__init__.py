"""Every architecture of scratchdl, in one registry (timm's layout).

Importing this package imports every model file below it, and each file registers its own
models with `@register_model(name, kind)` beside the class: add a file, get a model. Image
classifiers sit here; text/, detection/, segmentation/, generative/ and scratch/ (the
hand-written, autograd-free nets) hold the other families. Files and folders whose name
starts with "_" are machinery (_registry, _blocks, _summary, _resize, _safetensors), not
models."""

import importlib
import pkgutil

from scratchdl.models._registry import (
    KINDS,
    build_model,
    get_entry,
    list_models,
    model_kind,
    model_options,
    register_model,
)

for _info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
    if not any(part.startswith("_") for part in _info.name.split(".")):
        importlib.import_module(_info.name)

__all__ = [
    "KINDS",
    "build_model",
    "get_entry",
    "list_models",
    "model_kind",
    "model_options",
    "register_model",
]
