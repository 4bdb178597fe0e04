"""Model registry. Importing this package registers every model file below."""

from scratchdl.models import lenet, mlp, softmax  # noqa: F401 - registration side effect
from scratchdl.models.registry import build_model, list_models, model_options, register_model

__all__ = ["build_model", "list_models", "model_options", "register_model"]
