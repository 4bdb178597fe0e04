"""Train / validation / test tensors for a registered image dataset.

The validation set is carved out of the training set (seeded, stratified by class), so the
test set is only ever used for the final number. Decoded arrays are cached per process, so
loading the same dataset again (another recipe, another seed) costs only the tensor copies.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from scratchdl.data.registry import ImageArrays, get_dataset
from scratchdl.errors import UserError


@dataclass
class DatasetInfo:
    name: str
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]  # (H, W)
    classes: list[str]
    mean: list[float]  # per channel, subtracted after scaling to [0, 1] (0 when not normalizing)
    std: list[float]  # per channel, divided by after that (1 when not normalizing)


@dataclass
class TensorSplit:
    x: torch.Tensor  # float32 [N, C, H, W]
    y: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    train: TensorSplit
    val: TensorSplit
    test: TensorSplit
    info: DatasetInfo


@functools.lru_cache(maxsize=4)
def raw_arrays(name: str) -> ImageArrays:
    """The dataset's arrays, decoded once per process; read-only so no caller can change them."""
    arrays = get_dataset(name).load_arrays()
    for a in (arrays.train_x, arrays.train_y, arrays.test_x, arrays.test_y):
        a.flags.writeable = False
    return arrays


def clear_array_cache() -> None:
    """Forget decoded arrays (e.g. after the data on disk or the environment changed)."""
    raw_arrays.cache_clear()


def _val_count(val_size: int | float, n_train: int) -> int:
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise UserError(f"val_size: expected an int count or a float fraction, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        if not 0 <= val_size < n_train:
            raise UserError(
                f"val_size: expected a count in 0..{n_train - 1} (training set has "
                f"{n_train}), got {val_size}"
            )
        return int(val_size)
    if not 0.0 <= val_size < 1.0:
        raise UserError(f"val_size: expected a fraction in [0, 1), got {val_size}")
    return int(round(val_size * n_train))


def stratified_split(y: np.ndarray, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train_idx, val_idx) with exactly n_val validation indices, per class in proportion.

    Each class gets floor(count * n_val / N) validation examples, and the leftover slots go to
    the classes with the largest remainders; which examples is decided by a seeded permutation.
    """
    n = len(y)
    perm = np.random.default_rng(seed).permutation(n)
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_val / n
    quota = np.floor(exact).astype(np.int64)
    # stable sort on -remainder: ties go to the lower class label, deterministically
    extra = np.argsort(-(exact - quota), kind="stable")[: n_val - quota.sum()]
    quota[extra] += 1
    shuffled_y = y[perm]
    val = np.concatenate(
        [perm[shuffled_y == c][:q] for c, q in zip(classes, quota, strict=True)]
        + [np.empty(0, np.int64)]
    )
    is_val = np.zeros(n, bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 [N,H,W] or [N,C,H,W] -> float32 [N,C,H,W] in [0, 1]."""
    x = torch.from_numpy(x.astype(np.float32)).div_(255)  # same rounding as torchvision ToTensor
    return x.unsqueeze(1) if x.ndim == 3 else x


def channel_stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std of uint8 images after scaling to [0, 1].

    Computed from a 256-bin histogram per channel: exact in float64 and with no float copy of
    the images (Fashion-MNIST's would be 340 MB).
    """
    x = x[:, None] if x.ndim == 3 else x
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for c in range(x.shape[1]):
        p = np.bincount(x[:, c].ravel(), minlength=256) / x[:, c].size
        m = float(p @ values)
        mean.append(m)
        std.append(float(np.sqrt(p @ (values - m) ** 2)))
    return mean, std


def load_splits(
    name: str, val_size: int | float = 0.1, seed: int = 0, normalize: bool = False
) -> Splits:
    """Train/val/test of dataset `name` as float32 [N,C,H,W] in [0,1] and int64 labels [N].

    val_size: a count or a fraction of the training set (0 gives an empty val split), chosen by
    a stratified permutation seeded with `seed`. normalize: standardise every split with the
    per-channel mean/std of the (post-split) training part only; info.mean/std say what was used.
    """
    raw = raw_arrays(name)
    n_val = _val_count(val_size, len(raw.train_y))
    train_idx, val_idx = stratified_split(raw.train_y, n_val, seed)
    parts = [
        (raw.train_x[train_idx], raw.train_y[train_idx]),
        (raw.train_x[val_idx], raw.train_y[val_idx]),
        (raw.test_x, raw.test_y.copy()),
    ]
    channels = 1 if raw.train_x.ndim == 3 else raw.train_x.shape[1]
    mean, std = [0.0] * channels, [1.0] * channels
    if normalize:
        mean, std = channel_stats(parts[0][0])
        std = [s if s > 0 else 1.0 for s in std]  # a constant channel is left unscaled
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    train, val, test = (
        TensorSplit(
            _to_tensor(x).sub_(m).div_(s) if normalize else _to_tensor(x), torch.from_numpy(y)
        )
        for x, y in parts
    )
    info = DatasetInfo(
        name=name,
        num_classes=len(raw.classes),
        in_channels=channels,
        image_size=tuple(raw.train_x.shape[-2:]),
        classes=list(raw.classes),
        mean=mean,
        std=std,
    )
    return Splits(train=train, val=val, test=test, info=info)
