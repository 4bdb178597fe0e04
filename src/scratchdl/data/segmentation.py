"""The procedural segmentation set `scenes`: the detection compositor's scenes with their
per-pixel class masks (VOC's role in the book, which no registry ships).

scenes: 1-6 objects of 6 classes (circle, square, triangle, plus, a coffee cup and a cat's
head cut from skimage photos) on tinted brick/grass/gravel crops, 128x128, 1500/300/300
images from seeds 1511/1512/1513. Mask values: 0 = background, c + 1 = class c; 255 would be
"unlabelled" (ignored by the metrics and the loss; the generator labels every pixel).
`scratchdl data fetch scenes` renders and caches `procedural/scenes.npz` (SHA-256 beside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scratchdl.data.cache import load_verified_npz, save_verified_npz
from scratchdl.data.detection import ProceduralDetection
from scratchdl.data.registry import register_dataset
from scratchdl.errors import UserError

IGNORE = 255  # mask value of unlabelled pixels


def check_images(images: np.ndarray, what: str = "images") -> None:
    """UserError unless uint8 RGB [N, 3, H, W] (what every segmentation model here reads)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise UserError(f"{what}: expected RGB images [N, 3, H, W], got shape "
                        f"{list(images.shape)}; convert grey or RGBA images to RGB")
    if images.dtype != np.uint8:
        raise UserError(f"{what}: expected 8-bit images (uint8), got {images.dtype}")


def check_masks(masks: np.ndarray, num_classes: int, images: np.ndarray | None = None,
                what: str = "masks") -> None:
    """UserError unless masks are [N, H, W] integers in 0..num_classes-1 or IGNORE, and (with
    images) of the images' count and size."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise UserError(f"{what}: expected class masks [N, H, W], got shape {list(masks.shape)}")
    if images is not None and (len(masks) != len(images) or masks.shape[1:] != images.shape[2:]):
        raise UserError(f"{what}: shape {list(masks.shape)} does not match images "
                        f"{list(np.shape(images))}: expected one H x W mask per image")
    values = np.unique(masks)
    bad = values[((values < 0) | (values >= num_classes)) & (values != IGNORE)]
    if len(bad):
        raise UserError(f"{what}: label {bad[0]} is outside the classes 0..{num_classes - 1} "
                        f"(0 = background, {IGNORE} = unlabelled); fix the masks")


@dataclass
class SegmentationSplit:
    images: np.ndarray  # uint8 [N, 3, H, W]
    masks: np.ndarray  # uint8 [N, H, W]: 0 background, c + 1 class c, IGNORE unlabelled


@dataclass
class SegmentationArrays:
    splits: dict[str, SegmentationSplit]
    classes: list[str]  # index = mask value; classes[0] == "background"

    def __post_init__(self) -> None:
        for name, split in self.splits.items():
            check_images(split.images, f"{name} images")
            check_masks(split.masks, len(self.classes), split.images, f"{name} masks")


class ProceduralSegmentation(ProceduralDetection):
    """A compositor-made set stored with class masks (boxes are not kept)."""

    def fetch(self) -> str:
        if load_verified_npz(self.cache_file) is not None:
            return f"{self.name}: present at {self.cache_file} (SHA-256 verified)"
        from scratchdl.data.procedural import render_set

        arrays = {}
        for split, (n, seed) in self.splits.items():
            data = render_set(self.compositor(), n, seed, class_masks=True)
            arrays[f"{split}_images"], arrays[f"{split}_masks"] = data["images"], data[
                "class_masks"]
        save_verified_npz(self.cache_file, arrays)
        counts = "/".join(str(n) for n, _ in self.splits.values())
        return f"{self.name}: generated {counts} images with masks, cached at {self.cache_file}"

    def load_segmentation(self) -> SegmentationArrays:
        """All splits, checked; UserError saying how to make them if the cache is absent."""
        problem: list[str] = []
        arrays = load_verified_npz(self.cache_file, problem)
        if arrays is None:
            why = f"{problem[0]}; " if problem else ""
            raise UserError(f"{why}dataset {self.name} is not generated yet: run "
                            f"`scratchdl data fetch {self.name}`")
        splits = {s: SegmentationSplit(arrays[f"{s}_images"], arrays[f"{s}_masks"])
                  for s in self.splits}
        return SegmentationArrays(splits, ["background", *self.classes])

    def load_detection(self):  # noqa: ANN201
        raise UserError(f"{self.name} is a segmentation set (masks, no boxes): use it with "
                        "fcn-scenes or unet-scenes")


SCENES = register_dataset(ProceduralSegmentation(
    "scenes", "procedural: 1-6 of 6 classes per 128x128 image, per-pixel masks (1500/300/300)",
    ["circle", "square", "triangle", "plus", "cup", "cat"], size=128, n_objects=(1, 6),
    scale=(0.1, 0.6), splits={"train": (1500, 1511), "val": (300, 1512), "test": (300, 1513)},
))
