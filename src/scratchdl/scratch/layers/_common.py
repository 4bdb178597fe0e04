"""Small shared pieces of the hand-written layers: the cache type and input checks."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from torch import Tensor

from scratchdl.errors import UserError

# What a forward pass saves for its backward pass: whatever tensors and settings it needs.
Cache = tuple[Any, ...]


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into an (h, w) pair of ints."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, tuple | list) and len(value) == 2:
        if all(isinstance(v, int) for v in value):
            return int(value[0]), int(value[1])
    raise UserError(f"{name}: expected an int or a pair of ints, got {value!r}")


def check_dim(x: Tensor, dim: int, name: str, layout: str) -> None:
    """Raise UserError unless x has `dim` dimensions (layout names them, e.g. 'N, C, H, W')."""
    if x.dim() != dim:
        raise UserError(f"{name}: expected a {dim}-d tensor ({layout}), got shape {tuple(x.shape)}")


def check_same_kind(x: Tensor, w: Tensor, name: str) -> None:
    """Raise UserError when input and weight differ in dtype or device (matmul would fail later)."""
    if x.dtype != w.dtype or x.device != w.device:
        raise UserError(
            f"{name}: input is {x.dtype} on {x.device} but weight is {w.dtype} on {w.device}; "
            "convert one with .to(...)"
        )


def is_numpy(value: Any) -> bool:
    """True for a numpy array (checked by type, so numpy need not be installed or imported)."""
    return type(value).__module__ == "numpy" and hasattr(value, "__array__")


def numpy_hint(where: str, label: str) -> str:
    """The one-line message for a numpy array where a torch tensor is expected."""
    return (
        f"{where}: expected {label} as a torch.Tensor, got a numpy array; convert it with "
        f"torch.from_numpy({label}) (and .float() for float32)"
    )


def check_tensor(value: Any, where: str, label: str) -> None:
    """Raise UserError unless `value` is a torch tensor; numpy arrays get the from_numpy fix."""
    if isinstance(value, Tensor):
        return
    if is_numpy(value):
        raise UserError(numpy_hint(where, label))
    raise UserError(f"{where}: expected {label} as a torch.Tensor, got {type(value).__name__}")


F = TypeVar("F", bound=Callable[..., Any])


def reject_numpy(fn: F, where: str | None = None) -> F:
    """Wrap `fn` so a numpy array in any argument raises UserError naming torch.from_numpy,
    instead of an AttributeError deep inside (numpy has no .dim(), .clamp(), ...)."""
    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    where = where or fn.__qualname__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for i, arg in enumerate(args):
            if is_numpy(arg):
                raise UserError(numpy_hint(where, names[i] if i < len(names) else f"arg {i}"))
        for key, arg in kwargs.items():
            if is_numpy(arg):
                raise UserError(numpy_hint(where, key))
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


C = TypeVar("C", bound=type)


def tensor_layer(cls: C) -> C:
    """Class decorator for a layer: its static forward and backward reject numpy arrays."""
    for meth in ("forward", "backward"):
        fn = cls.__dict__.get(meth)
        if isinstance(fn, staticmethod):
            guarded = reject_numpy(fn.__func__, f"{cls.__name__}.{meth}")
            setattr(cls, meth, staticmethod(guarded))
    return cls
