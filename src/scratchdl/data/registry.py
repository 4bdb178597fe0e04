"""The dataset registry: each dataset says where it comes from, whether it is here, and loads.

`scratchdl data list` shows `list_datasets()`; `scratchdl data fetch NAME` calls
`get_dataset(NAME).fetch()`; `load_splits(NAME)` calls `get_dataset(NAME).load_arrays()`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from scratchdl.errors import UserError


@dataclass
class ImageArrays:
    """A classification set as raw arrays.

    train_x, test_x: uint8 [N, H, W] (grey) or [N, C, H, W]; train_y, test_y: int64 [N] in
    0..len(classes)-1; classes: the class names, index = label.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.train_x, self.train_y),
            ("test", self.test_x, self.test_y),
        ):
            if x.dtype != np.uint8 or x.ndim not in (3, 4):
                raise ValueError(
                    f"{split}_x: expected uint8 [N,H,W] or [N,C,H,W], got {x.dtype} {x.shape}"
                )
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"{split}_y: expected int64 [{len(x)}], got {y.dtype} {y.shape}")
            if len(y) and not (0 <= y.min() and y.max() < len(self.classes)):
                raise ValueError(f"{split}_y: labels outside 0..{len(self.classes) - 1}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"train/test image shapes differ: {self.train_x.shape[1:]} vs "
                f"{self.test_x.shape[1:]}"
            )


class DatasetSpec:
    """One dataset: subclasses set `name`, `description` and implement the methods below."""

    name: str = ""
    description: str = ""

    @property
    def sources(self) -> list[str]:
        """Human-readable places the data is looked for, in the order they are tried."""
        return []

    def is_present(self) -> bool:
        """True if load_arrays() can work without fetching (cheap: no hashing)."""
        raise NotImplementedError

    def size_bytes(self) -> int | None:
        """Bytes on disk of the copy that would be loaded, or None if unknown/absent."""
        return None

    def fetch(self) -> str:
        """Make the data present (may download); returns one line saying what it did."""
        raise NotImplementedError

    def load_arrays(self) -> ImageArrays:
        """The whole dataset as arrays; UserError saying how to get it if it is absent."""
        raise NotImplementedError


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add `spec` under `spec.name` (replacing one of the same name); returns it."""
    if not spec.name:
        raise ValueError("a DatasetSpec needs a non-empty name")
    _REGISTRY[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset `name`; UserError suggesting close names if there is none."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UserError(
        f"unknown dataset {name!r}: {hint}known datasets: "
        f"{', '.join(sorted(_REGISTRY)) or '(none)'}; see `scratchdl data list`"
    )


def list_datasets() -> list[dict]:
    """One dict per dataset (sorted by name): name, description, sources, present, size_bytes."""
    return [
        {
            "name": spec.name,
            "description": spec.description,
            "sources": list(spec.sources),
            "present": spec.is_present(),
            "size_bytes": spec.size_bytes(),
        }
        for spec in sorted(_REGISTRY.values(), key=lambda s: s.name)
    ]
