"""The objects the scene compositor pastes: drawn shapes and cut-outs of skimage photos.

A sprite function takes (rng, h, w) and returns (rgb uint8 [h, w, 3], alpha bool [h, w]):
alpha marks the object's own pixels, so a mask and a tight box follow from it.

Drawn shapes are evaluated analytically on a [-1, 1] grid at the target size (no resampling),
in a random saturated colour with a little shading noise. Photo cut-outs use simple masks,
documented in `PHOTO_CUTOUTS`: an ellipse inside a fixed crop of the photo, and for the rocket
additionally a brightness threshold (the white rocket against the dark evening sky).
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

Sprite = tuple[np.ndarray, np.ndarray]
SpriteFn = Callable[[np.random.Generator, int, int], Sprite]


def _grid(rng: np.random.Generator, h: int, w: int, rotate: bool) -> tuple[np.ndarray, ...]:
    """Pixel-centre coordinates in [-1, 1], optionally rotated by a random angle."""
    y = (np.arange(h) + 0.5) / h * 2 - 1
    x = (np.arange(w) + 0.5) / w * 2 - 1
    yy, xx = np.meshgrid(y, x, indexing="ij")
    if rotate:
        t = rng.uniform(0, 2 * np.pi)
        xx, yy = np.cos(t) * xx - np.sin(t) * yy, np.sin(t) * xx + np.cos(t) * yy
    return yy, xx


def _paint(rng: np.random.Generator, alpha: np.ndarray, hue: float | None = None) -> Sprite:
    """Fill `alpha` with one saturated colour (random hue unless given) and mild noise."""
    hue = rng.uniform() if hue is None else hue
    rgb = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)))
    shade = 1 + rng.normal(0, 0.06, alpha.shape)[..., None]
    img = np.clip(rgb * shade * 255, 0, 255).astype(np.uint8)
    if not alpha.any():  # a sprite of a few pixels can miss the shape: keep its centre pixel
        alpha[alpha.shape[0] // 2, alpha.shape[1] // 2] = True
    return img, alpha


def circle(rng: np.random.Generator, h: int, w: int) -> Sprite:
    yy, xx = _grid(rng, h, w, rotate=False)
    return _paint(rng, xx**2 + yy**2 <= 1.0)


def square(rng: np.random.Generator, h: int, w: int) -> Sprite:
    yy, xx = _grid(rng, h, w, rotate=False)
    return _paint(rng, (np.abs(xx) <= 0.95) & (np.abs(yy) <= 0.95))


def triangle(rng: np.random.Generator, h: int, w: int) -> Sprite:
    """Apex up; base at the bottom of the sprite."""
    yy, xx = _grid(rng, h, w, rotate=False)
    return _paint(rng, (yy <= 0.95) & (np.abs(xx) <= (yy + 0.95) / 2))


def plus(rng: np.random.Generator, h: int, w: int) -> Sprite:
    yy, xx = _grid(rng, h, w, rotate=False)
    return _paint(rng, ((np.abs(xx) <= 0.3) | (np.abs(yy) <= 0.3)) & (np.abs(xx) <= 0.95))


def banana(rng: np.random.Generator, h: int, w: int) -> Sprite:
    """A yellow crescent (inside one circle, outside a shifted one), rotated, brown tips."""
    yy, xx = _grid(rng, h, w, rotate=True)
    alpha = (xx**2 + yy**2 <= 0.95**2) & (xx**2 + (yy + 0.45) ** 2 >= 0.85**2)
    img, alpha = _paint(rng, alpha, hue=rng.uniform(0.12, 0.17))
    tips = alpha & (np.abs(xx) > 0.7)
    img[tips] = (img[tips] * 0.45).astype(np.uint8)
    return img, alpha


@dataclass(frozen=True)
class PhotoCutout:
    """A region of a skimage photo: crop rows/cols, an ellipse inside it, an optional threshold.

    `min_grey` (0..1) keeps only crop pixels at least that bright (for the rocket).
    """

    photo: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    min_grey: float | None = None


# The masks, documented: an ellipse filling the crop box (the crop is the object's bounding box
# in the photo), intersected with a brightness threshold where given.
PHOTO_CUTOUTS: dict[str, PhotoCutout] = {
    "cup": PhotoCutout("coffee", rows=(53, 387), cols=(80, 480)),  # cup on its saucer
    "cat": PhotoCutout("chelsea", rows=(20, 300), cols=(65, 405)),  # chelsea's head
    "face": PhotoCutout("astronaut", rows=(17, 171), cols=(154, 302)),  # face and hair
    "rocket": PhotoCutout("rocket", rows=(120, 415), cols=(300, 342), min_grey=0.45),
}


@cache
def _cutout(name: str) -> Sprite:
    """The full-resolution cut-out (rgb, alpha) of PHOTO_CUTOUTS[name]; cached per process."""
    import skimage.data

    spec = PHOTO_CUTOUTS[name]
    photo = getattr(skimage.data, spec.photo)()[slice(*spec.rows), slice(*spec.cols)]
    h, w = photo.shape[:2]
    yy, xx = np.meshgrid(
        (np.arange(h) + 0.5) / h * 2 - 1, (np.arange(w) + 0.5) / w * 2 - 1, indexing="ij"
    )
    alpha = xx**2 + yy**2 <= 1.0
    if spec.min_grey is not None:
        alpha &= photo.mean(axis=2) / 255 >= spec.min_grey
    return photo, alpha


def _photo_sprite(name: str) -> SpriteFn:
    def sprite(rng: np.random.Generator, h: int, w: int) -> Sprite:
        """Nearest-neighbour resize of the cut-out to h x w, randomly mirrored."""
        photo, alpha = _cutout(name)
        r = (np.arange(h) + 0.5) * photo.shape[0] / h
        c = (np.arange(w) + 0.5) * photo.shape[1] / w
        r, c = r.astype(int), c.astype(int)
        if rng.uniform() < 0.5:
            c = c[::-1]
        img, a = photo[r][:, c].copy(), alpha[r][:, c].copy()
        if not a.any():
            a[h // 2, w // 2] = True
        return img, a

    sprite.__doc__ = f"The {name} cut out of skimage.data.{PHOTO_CUTOUTS[name].photo}()."
    return sprite


SPRITES: dict[str, SpriteFn] = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "plus": plus,
    "banana": banana,
    **{name: _photo_sprite(name) for name in PHOTO_CUTOUTS},
}

# Natural width/height of each sprite (the compositor jitters it); cut-outs keep their crop's.
ASPECT: dict[str, float] = {
    name: (spec.cols[1] - spec.cols[0]) / (spec.rows[1] - spec.rows[0])
    for name, spec in PHOTO_CUTOUTS.items()
}
