"""Small shared pieces of the hand-written layers: the cache type and input checks."""

from typing import Any

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
