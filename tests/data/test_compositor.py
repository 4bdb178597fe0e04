"""The scene compositor: deterministic, and its boxes/masks describe what is visible."""

import numpy as np
import pytest

from scratchdl.data.procedural import SPRITES, Compositor, render_set
from scratchdl.data.procedural.sprites import PHOTO_CUTOUTS

ALL = ["circle", "square", "triangle", "plus", "banana", *PHOTO_CUTOUTS]


def test_same_seed_same_set_and_images_regenerate_alone():
    comp = Compositor(ALL, size=96)
    a, b = render_set(comp, 6, seed=3, class_masks=True), render_set(comp, 6, seed=3)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])
    alone = comp.scene(np.random.default_rng([3, 4]))
    assert np.array_equal(alone.image.transpose(2, 0, 1), a["images"][4])
    assert not np.array_equal(render_set(comp, 6, seed=4)["images"], a["images"])


def test_boxes_and_masks_are_the_visible_objects():
    comp = Compositor(ALL, size=128, n_objects=(4, 8), scale=(0.2, 0.6), min_visible=0.5)
    overlapped = 0
    for i in range(12):
        scene = comp.scene(np.random.default_rng([0, i]))
        n = len(scene.labels)
        assert scene.masks.shape == (n, 128, 128) and scene.masks.dtype == bool
        # instances never share a pixel; the class mask is their union with class + 1
        assert (scene.masks.sum(0) <= 1).all()
        cm = scene.class_mask
        assert ((cm > 0) == scene.masks.any(0)).all()
        for (cls, x1, y1, x2, y2), mask in zip(scene.labels, scene.masks, strict=True):
            assert mask.any() and (cm[mask] == cls + 1).all()
            ys, xs = np.nonzero(mask)
            assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        # a later object may cover an earlier one, but never more than half of it
        boxes = scene.labels[:, 1:]
        for a in range(n):
            for b in range(a + 1, n):
                ix = min(boxes[a, 2], boxes[b, 2]) - max(boxes[a, 0], boxes[b, 0])
                iy = min(boxes[a, 3], boxes[b, 3]) - max(boxes[a, 1], boxes[b, 1])
                overlapped += ix > 0 and iy > 0
    assert overlapped > 0  # the setting does produce overlaps


def test_occlusion_leaves_at_least_min_visible():
    comp = Compositor(["square"], size=64, n_objects=(6, 6), scale=(0.4, 0.7), min_visible=0.6)
    for i in range(10):
        scene = comp.scene(np.random.default_rng([1, i]))
        for (_, x1, y1, x2, y2), mask in zip(scene.labels, scene.masks, strict=True):
            # a square sprite's own area is close to its box; visible area is >= 60% of it
            assert mask.sum() >= 0.6 * 0.9 * (x2 - x1) * (y2 - y1) - 1


def test_empty_scenes_and_bad_arguments():
    scene = Compositor(["circle"], size=32, n_objects=(0, 0)).scene(np.random.default_rng(0))
    assert scene.labels.shape == (0, 5) and scene.masks.shape == (0, 32, 32)
    assert scene.class_mask.max() == 0 and scene.image.shape == (32, 32, 3)
    data = render_set(Compositor(["circle"], size=32, n_objects=(0, 0)), 3, seed=0)
    assert data["labels"].shape == (0, 6) and data["images"].shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match="classes must be"):
        Compositor(["unicorn"])


@pytest.mark.parametrize("name", sorted(SPRITES))
def test_every_sprite_has_pixels_even_when_tiny(name):
    for h, w in ((4, 4), (5, 9), (40, 30)):
        rgb, alpha = SPRITES[name](np.random.default_rng(0), h, w)
        assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
        assert alpha.shape == (h, w) and alpha.any()
