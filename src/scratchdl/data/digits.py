"""scikit-learn's bundled 8x8 digits (1797 images, 16 grey levels): tiny, instant, for fast tests.

Pixels 0..16 become uint8 0..255 as value*16 clipped to 255; the test set is a fixed, seeded,
stratified 20% (1437 train / 360 test).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError

SPLIT_SEED = 0
TEST_FRACTION = 0.2


def _sklearn_missing() -> UserError:
    return UserError(
        "the digits dataset needs scikit-learn, which is not installed: "
        "run `pip install scikit-learn`"
    )


class Digits(DatasetSpec):
    name = "digits"
    description = "scikit-learn digits: 1797 8x8 grey images of 0-9 (1437 train / 360 test)"

    @property
    def sources(self) -> list[str]:
        return ["bundled with scikit-learn (sklearn.datasets.load_digits)"]

    def is_present(self) -> bool:
        try:
            return importlib.util.find_spec("sklearn") is not None
        except (ImportError, ValueError):  # a broken or blocked install counts as missing
            return False

    def size_bytes(self) -> int | None:
        return 1797 * 8 * 8 if self.is_present() else None  # as uint8 images

    def fetch(self) -> str:
        if not self.is_present():
            raise _sklearn_missing()
        return "digits ships with scikit-learn: nothing to fetch"

    def load_arrays(self) -> ImageArrays:
        try:
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split
        except ImportError:
            raise _sklearn_missing() from None
        bunch = load_digits()
        x = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)  # [1797, 8, 8]
        y = bunch.target.astype(np.int64)
        train_x, test_x, train_y, test_y = train_test_split(
            x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
        )
        return ImageArrays(train_x, train_y, test_x, test_y, [str(d) for d in range(10)])


register_dataset(Digits())
