"""Datasets: a registry of offline-obtainable sets, seeded train/val/test splits, a fast loader.

from scratchdl.data import load_splits, TensorLoader
s = load_splits("fashion-mnist", val_size=5000, seed=0)   # float32 [N,1,28,28], int64 [N]
for xb, yb in TensorLoader(s.train.x, s.train.y, batch_size=256, shuffle=True): ...
"""

from scratchdl.data import (  # noqa: F401  (importing registers them)
    detection,
    digits,
    fashion_mnist,
    mnist,
    segmentation,
    style_images,
)
from scratchdl.data.loader import TensorLoader
from scratchdl.data.registry import (
    DatasetSpec,
    ImageArrays,
    get_dataset,
    list_datasets,
    register_dataset,
)
from scratchdl.data.splits import DatasetInfo, Splits, TensorSplit, clear_array_cache, load_splits

__all__ = [
    "DatasetInfo",
    "DatasetSpec",
    "ImageArrays",
    "Splits",
    "TensorLoader",
    "TensorSplit",
    "clear_array_cache",
    "get_dataset",
    "list_datasets",
    "load_splits",
    "register_dataset",
]
