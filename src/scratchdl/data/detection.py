"""The procedural detection sets `bananas` and `shapes`: generated once, cached, verified.

No registry ships a detection set (DATA.md), so both are drawn by the scene compositor
(data/procedural) from a fixed seed per split; `scratchdl data fetch NAME` renders and caches
them as `procedural/NAME.npz` with a SHA-256 beside it (a corrupt copy is moved aside and
regenerated). Labels per split are rows `img, class, xmin, ymin, xmax, ymax` in pixels.

- bananas: the book's set re-made (its images are synthetic too): one class, exactly one
  drawn banana per 256x256 image, 1000 train / 100 val.
- shapes: 1-6 objects of 6 classes (4 drawn shapes in random colours, a coffee cup and a
  cat's head cut from skimage photos), side 10..77 px on 128x128 images, so half the objects
  are COCO-small (area < 32^2); overlaps up to half an earlier object. 2000/300/300. The
  128 px size keeps the three detector recipes within 30 CPU minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scratchdl.data.cache import data_home, load_verified_npz, save_verified_npz
from scratchdl.data.registry import DatasetSpec, ImageArrays, register_dataset
from scratchdl.errors import UserError


def check_labels(labels: np.ndarray, num_classes: int, what: str = "labels") -> None:
    """UserError unless `labels` is [n, 5] rows class, xmin, ymin, xmax, ymax (finite, x1<=x2,
    y1<=y2, class in 0..num_classes-1). Zero rows (an image without objects) is valid."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != 5:
        raise UserError(
            f"{what}: expected [n, 5] rows (class, xmin, ymin, xmax, ymax), got shape "
            f"{list(labels.shape)}"
        )
    if not np.isfinite(labels).all():
        raise UserError(f"{what}: box coordinates must be finite numbers, found NaN or inf")
    cls, boxes = labels[:, 0], labels[:, 1:]
    bad = (cls < 0) | (cls >= num_classes) | (cls != np.round(cls))
    if bad.any():
        raise UserError(
            f"{what}: class {cls[bad][0]:g} is outside 0..{num_classes - 1}; "
            f"use integer class indices below the number of classes"
        )
    flipped = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if flipped.any():
        x1, y1, x2, y2 = boxes[flipped][0]
        raise UserError(
            f"{what}: box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) has xmax < xmin or ymax < ymin; "
            f"give corners as xmin, ymin, xmax, ymax"
        )


@dataclass
class DetectionSplit:
    images: np.ndarray  # uint8 [N, 3, H, W]
    labels: np.ndarray  # float32 [M, 6]: img, class, xmin, ymin, xmax, ymax

    def targets(self) -> list[np.ndarray]:
        """Per image, its [n_i, 5] rows (class, xmin, ymin, xmax, ymax); n_i may be 0."""
        order = np.argsort(self.labels[:, 0], kind="stable")
        rows = self.labels[order]
        cuts = np.searchsorted(rows[:, 0], np.arange(1, len(self.images)))
        return [part[:, 1:] for part in np.split(rows, cuts)]


@dataclass
class DetectionArrays:
    splits: dict[str, DetectionSplit]
    classes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, split in self.splits.items():
            check_labels(split.labels[:, 1:], len(self.classes), f"{name} labels")
            if len(split.labels) and not (0 <= split.labels[:, 0].min() and
                                          split.labels[:, 0].max() < len(split.images)):
                raise UserError(f"{name} labels: image index outside 0..{len(split.images) - 1}")


class ProceduralDetection(DatasetSpec):
    """A compositor-made detection set: `splits` maps split name -> (count, seed)."""

    def __init__(self, name: str, description: str, classes: list[str], size: int,
                 n_objects: tuple[int, int], scale: tuple[float, float],
                 splits: dict[str, tuple[int, int]]) -> None:
        self.name, self.description = name, description
        self.classes, self.size, self.n_objects, self.scale = classes, size, n_objects, scale
        self.splits = splits

    @property
    def cache_file(self) -> Path:
        return data_home() / "procedural" / f"{self.name}.npz"

    @property
    def sources(self) -> list[str]:
        seeds = ", ".join(f"{k} seed {s}" for k, (_, s) in self.splits.items())
        return [
            f"cache {self.cache_file} (SHA-256 beside it)",
            f"generated offline by scratchdl.data.procedural from skimage.data ({seeds})",
        ]

    def is_present(self) -> bool:
        return self.cache_file.exists()

    def size_bytes(self) -> int | None:
        return self.cache_file.stat().st_size if self.is_present() else None

    def compositor(self):  # noqa: ANN201 (Compositor; imported lazily, skimage is heavy)
        from scratchdl.data.procedural import Compositor

        return Compositor(self.classes, self.size, self.n_objects, self.scale)

    def fetch(self) -> str:
        if load_verified_npz(self.cache_file) is not None:
            return f"{self.name}: present at {self.cache_file} (SHA-256 verified)"
        try:
            import skimage.data  # noqa: F401  (the textures and photos the scenes are made of)
        except ImportError:
            raise UserError(
                f"{self.name} is rendered from scikit-image's bundled images, and scikit-image "
                "is not installed: run `pip install 'scratchdl[data]'`"
            ) from None
        from scratchdl.data.procedural import render_set

        arrays = {}
        for split, (n, seed) in self.splits.items():
            data = render_set(self.compositor(), n, seed)
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = data["images"], data["labels"]
        save_verified_npz(self.cache_file, arrays)
        counts = "/".join(str(n) for n, _ in self.splits.values())
        return f"{self.name}: generated {counts} images, cached at {self.cache_file}"

    def load_detection(self) -> DetectionArrays:
        """All splits; UserError saying how to make them if the cache is absent."""
        problem: list[str] = []
        arrays = load_verified_npz(self.cache_file, problem)
        if arrays is None:
            why = f"{problem[0]}; " if problem else ""
            raise UserError(
                f"{why}dataset {self.name} is not generated yet: run "
                f"`scratchdl data fetch {self.name}`"
            )
        splits = {
            s: DetectionSplit(arrays[f"{s}_images"], arrays[f"{s}_labels"]) for s in self.splits
        }
        return DetectionArrays(splits, list(self.classes))

    def load_arrays(self) -> ImageArrays:
        raise UserError(
            f"{self.name} is a detection set (boxes, not one label per image): use it with a "
            f"detection recipe, e.g. `scratchdl run tinyssd-bananas`"
        )


BANANAS = register_dataset(ProceduralDetection(
    "bananas", "procedural: one banana per 256x256 texture image (1000 train / 100 val)",
    ["banana"], size=256, n_objects=(1, 1), scale=(0.12, 0.4),
    splits={"train": (1000, 1401), "val": (100, 1402)},
))
SHAPES = register_dataset(ProceduralDetection(
    "shapes", "procedural: 1-6 of 6 object classes per 128x128 image (2000/300/300)",
    ["circle", "square", "triangle", "plus", "cup", "cat"], size=128, n_objects=(1, 6),
    scale=(0.08, 0.6), splits={"train": (2000, 1411), "val": (300, 1412), "test": (300, 1413)},
))
