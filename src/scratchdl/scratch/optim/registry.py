"""Build an optimizer by name: the names recipes and the CLI use."""

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from scratchdl.errors import UserError
from scratchdl.scratch.optim.adagrad import Adagrad
from scratchdl.scratch.optim.adam import Adam, AdamW
from scratchdl.scratch.optim.dict_optimizer import DictOptimizer
from scratchdl.scratch.optim.rmsprop import RMSprop
from scratchdl.scratch.optim.sgd import SGD

# name -> (class, defaults that make the name mean what it says; user values override them)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}


def scratch_optimizer(
    name: str, params: Iterable[Any] | Mapping[str, Tensor] | torch.nn.Module, **hyperparams: Any
) -> torch.optim.Optimizer | DictOptimizer:
    """Optimizer `name` over `params`.

    `params`: a torch.nn.Module, an iterable of tensors / param-group dicts (gives a
    torch.optim.Optimizer), or a dict name -> Tensor of hand-written layers (gives a
    DictOptimizer whose step takes a dict of gradients).
    """
    if name not in OPTIMIZERS:
        close = difflib.get_close_matches(str(name), OPTIMIZERS, n=3)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else f"choose one of {', '.join(OPTIMIZERS)}"
        )
        raise UserError(f"unknown optimizer {name!r}; {hint}")
    cls, defaults = OPTIMIZERS[name]
    hyperparams = {**defaults, **hyperparams}
    try:
        if isinstance(params, torch.nn.Module):
            return cls(params.parameters(), **hyperparams)
        if isinstance(params, Mapping) and all(isinstance(v, Tensor) for v in params.values()):
            return DictOptimizer(cls, params, **hyperparams)
        return cls(params, **hyperparams)
    except TypeError as err:  # an unknown keyword: turn it into a one-line user error
        raise UserError(f"bad hyperparameters for optimizer {name!r}: {err}") from None
