"""Image augmentation from scratch, vectorized over a batch with per-image random parameters.

Images are float NCHW tensors with values in [0, 1]. Every transform splits
- `sample_params(shape, generator)`: draw the random parameters for a batch of `shape`
  (a tensor's shape or the tensor itself), one set per image, on the CPU;
- `apply(x, params)`: deterministic, so a test can apply ours and torchvision's to the same draw;
- `__call__(x, generator)`: both in one go.

The maths follows torchvision.transforms.v2.functional (flips, resized_crop with bilinear
interpolation and antialias off, adjust_brightness/contrast/saturation/hue) but is written here on
plain tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from scratchdl.errors import UserError

Params = dict[str, Any]


def _shape_of(x_or_shape: torch.Tensor | Sequence[int]) -> tuple[int, int, int, int]:
    shape = tuple(x_or_shape.shape if isinstance(x_or_shape, torch.Tensor) else x_or_shape)
    if len(shape) != 4:
        raise UserError(f"expected an image batch of shape (N, C, H, W), got shape {shape}")
    return shape  # type: ignore[return-value]


def _check_batch(x: torch.Tensor, n: int | None = None, what: str = "augmentation") -> None:
    if x.ndim != 4:
        raise UserError(f"{what} expects an image batch (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise UserError(f"{what} expects float images in [0, 1], got {x.dtype}; use x.float()/255")
    if n is not None and x.shape[0] != n:
        raise UserError(f"{what}: params were sampled for {n} images, got a batch of {x.shape[0]}")


def _check_color(x: torch.Tensor, what: str) -> None:
    if x.shape[1] not in (1, 3):
        raise UserError(
            f"{what} expects 1 or 3 channels, got {x.shape[1]} (shape {tuple(x.shape)})"
        )


# ----------------------------------------------------------------------------- flips


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images of (N, C, H, W) `x` where the (N,) bool `flip` is True."""
    _check_batch(x, flip.shape[0], "hflip")
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)


def vflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror top-bottom the images of (N, C, H, W) `x` where the (N,) bool `flip` is True."""
    _check_batch(x, flip.shape[0], "vflip")
    return torch.where(flip.to(x.device)[:, None, None, None], x.flip(-2), x)


class Transform:
    """Base: subclasses define sample_params and apply; output_shape if they resize."""

    def sample_params(self, shape, generator: torch.Generator | None = None) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        raise NotImplementedError

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(shape)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.apply(x, self.sample_params(x, generator))


class RandomHorizontalFlip(Transform):
    """Flip each image left-right with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise UserError(f"flip probability must be in [0, 1], got {p}")
        self.p = p

    def sample_params(self, shape, generator=None) -> Params:
        n = _shape_of(shape)[0]
        return {"flip": torch.rand(n, generator=generator) < self.p}

    def apply(self, x, params):
        return hflip(x, params["flip"])


class RandomVerticalFlip(RandomHorizontalFlip):
    """Flip each image top-bottom with probability p."""

    def apply(self, x, params):
        return vflip(x, params["flip"])


# ----------------------------------------------------------------------------- resized crop


def _bilinear_taps(start: torch.Tensor, length: torch.Tensor, out_size: int):
    """Source taps of a 1-D bilinear resize of [start, start + length) to out_size samples.

    Half-pixel centres (align_corners=False): src = (dst + 0.5) * length / out_size - 0.5,
    clamped at 0; the right tap repeats the last pixel at the border. Returns (i0, i1, w1), each
    (N, out_size), with output = (1 - w1) * in[i0] + w1 * in[i1].
    """
    length = length.to(torch.float64)[:, None]
    dst = torch.arange(out_size, dtype=torch.float64, device=start.device)[None, :]
    src = ((dst + 0.5) * (length / out_size) - 0.5).clamp(min=0.0)
    i0 = torch.minimum(src.floor(), length - 1)
    w1 = (src - i0).clamp(0.0, 1.0)
    i1 = torch.where(i0 < length - 1, i0 + 1, i0)
    return start[:, None] + i0.long(), start[:, None] + i1.long(), w1


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop box i = (top, left, height, width) of image i and resize it to `size` = (h, w).

    x (N, C, H, W), boxes (N, 4) integers inside the image -> (N, C, h, w). Bilinear,
    no antialiasing (a crop shrunk a lot will alias, exactly like antialias=False in torchvision).
    """
    _check_batch(x, boxes.shape[0], "resized_crop")
    n, _, H, W = x.shape
    out_h, out_w = size
    boxes = boxes.to(device=x.device, dtype=torch.long)
    top, left, h, w = boxes.unbind(1)
    inside = (top >= 0) & (left >= 0) & (h >= 1) & (w >= 1) & (top + h <= H) & (left + w <= W)
    if not inside.all():
        raise UserError(f"crop boxes (top, left, height, width) must lie inside {H}x{W} images")
    y0, y1, wy = _bilinear_taps(top, h, out_h)  # (N, out_h)
    x0, x1, wx = _bilinear_taps(left, w, out_w)  # (N, out_w)
    wy = wy.to(x.dtype)[:, None, :, None]
    wx = wx.to(x.dtype)[:, None, None, :]
    # Gather the four corner pixels for every output position of every image.
    rows = torch.arange(n, device=x.device)[:, None, None]

    def pick(yi, xi):  # -> (N, C, out_h, out_w)
        return x.permute(0, 2, 3, 1)[rows, yi[:, :, None], xi[:, None, :]].permute(0, 3, 1, 2)

    top_row = (1 - wx) * pick(y0, x0) + wx * pick(y0, x1)
    bottom_row = (1 - wx) * pick(y1, x0) + wx * pick(y1, x1)
    return (1 - wy) * top_row + wy * bottom_row


class RandomResizedCrop(Transform):
    """Crop a random area fraction `scale` with aspect ratio in `ratio`, resize to `size`.

    Sampling per image follows torchvision's RandomResizedCrop: up to 10 tries of
    area ~ U(scale) * H * W and log aspect ~ U(log ratio); the first crop that fits wins,
    its corner is uniform; if none fits, a centre crop clamped to the ratio range.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
    ) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise UserError(f"size must be an int or (height, width) >= 1, got {size}")
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise UserError(
                "scale and ratio must be (min, max) with 0 < min <= max, "
                f"got {tuple(scale)} and {tuple(ratio)}"
            )
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))

    def output_shape(self, shape):
        n, c, _, _ = _shape_of(shape)
        return (n, c, *self.size)

    def _fallback(self, H: int, W: int) -> tuple[int, int, int, int]:
        in_ratio = W / H
        if in_ratio < self.ratio[0]:
            w, h = W, int(round(W / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = H, int(round(H * self.ratio[1]))
        else:
            h, w = H, W
        return (H - h) // 2, (W - w) // 2, h, w

    def sample_params(self, shape, generator=None, tries: int = 10) -> Params:
        n, _, H, W = _shape_of(shape)
        area = H * W
        lo, hi = self.scale
        target = area * (
            lo + (hi - lo) * torch.rand(n, tries, generator=generator, dtype=torch.float64)
        )
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        u = torch.rand(n, tries, generator=generator, dtype=torch.float64)
        aspect = torch.exp(log_lo + (log_hi - log_lo) * u)
        w = torch.round(torch.sqrt(target * aspect)).long()
        h = torch.round(torch.sqrt(target / aspect)).long()
        fits = (w > 0) & (w <= W) & (h > 0) & (h <= H)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # first try that fits
        h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
        u_top, u_left = torch.rand(2, n, generator=generator, dtype=torch.float64)
        top = (u_top * (H - h + 1)).floor().long().clamp(max=H - h)
        left = (u_left * (W - w + 1)).floor().long().clamp(max=W - w)
        boxes = torch.stack([top, left, h, w], dim=1)
        boxes[~fits.any(dim=1)] = torch.tensor(self._fallback(H, W))
        return {"boxes": boxes}

    def apply(self, x, params):
        return resized_crop(x, params["boxes"], self.size)


# ----------------------------------------------------------------------------- colour


def _per_image(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N,) factors -> (N, 1, 1, 1) on x's device and dtype."""
    if f.shape != (x.shape[0],):
        raise UserError(
            f"expected one factor per image, shape ({x.shape[0]},), got {tuple(f.shape)}"
        )
    return f.to(device=x.device, dtype=x.dtype)[:, None, None, None]


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma with the ITU-R 601 weights torchvision uses."""
    r, g, b = x.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b)[:, None]


def _blend(x: torch.Tensor, other: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """f * x + (1 - f) * other, clamped to [0, 1]: f=0 gives `other`, f=1 the image."""
    return (f * x + (1.0 - f) * other).clamp(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale intensities by a per-image factor (N,): 0 is black, 1 is the original."""
    _check_batch(x, what="adjust_brightness")
    return (x * _per_image(factor, x)).clamp(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its mean grey level: 0 is flat grey, 1 is the original."""
    _check_batch(x, what="adjust_contrast")
    _check_color(x, "adjust_contrast")
    gray = grayscale(x) if x.shape[1] == 3 else x
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, _per_image(factor, x))


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its own greyscale: 0 is grey, 1 is the original (1-channel: no-op)."""
    _check_batch(x, what="adjust_saturation")
    _check_color(x, "adjust_saturation")
    if x.shape[1] == 1:
        return x
    return _blend(x, grayscale(x), _per_image(factor, x))


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV, all three in [0, 1] (hue as a fraction of a turn)."""
    r, g, b = x.unbind(1)
    value, _ = x.max(dim=1)
    chroma = value - x.min(dim=1).values
    grey = chroma == 0  # hue and saturation are undefined; use 0
    safe_chroma = torch.where(grey, torch.ones_like(chroma), chroma)
    saturation = chroma / torch.where(grey, torch.ones_like(value), value)
    # Hue sector: which channel is the max decides the 60-degree sector (red wins ties, then green).
    hue = torch.where(
        value == r,
        (g - b) / safe_chroma,
        torch.where(value == g, 2.0 + (b - r) / safe_chroma, 4.0 + (r - g) / safe_chroma),
    )
    hue = torch.where(grey, torch.zeros_like(hue), torch.remainder(hue / 6.0, 1.0))
    return torch.stack([hue, saturation, value], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) HSV in [0, 1] -> RGB in [0, 1].

    Each channel n (R: 5, G: 3, B: 1) is v - v * s * clamp(min(k, 4 - k), 0, 1) with
    k = (n + 6h) mod 6: the piecewise-linear hue wheel written without sector branches.
    """
    h, s, v = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device)[None, :, None, None]
    k = torch.remainder(n + 6.0 * h, 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return (v - v * s * ramp).clamp(0.0, 1.0)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each image by a per-image factor in [-0.5, 0.5] of a turn (1-channel:
    no-op)."""
    _check_batch(x, what="adjust_hue")
    _check_color(x, "adjust_hue")
    if ((factor < -0.5) | (factor > 0.5)).any():
        raise UserError(
            f"hue factors must be in [-0.5, 0.5], "
            f"got range [{factor.min().item()}, {factor.max().item()}]"
        )
    if x.shape[1] == 1:
        return x
    hsv = rgb_to_hsv(x)
    hue = torch.remainder(hsv[:, 0:1] + _per_image(factor, x), 1.0)
    return hsv_to_rgb(torch.cat([hue, hsv[:, 1:]], dim=1))


def _factor_range(value, name: str, center: float, bound: tuple[float, float]):
    """torchvision's convention: a number v means [center - v, center + v] clipped to `bound`;
    a pair means itself. 0 (or None) disables the op."""
    if value is None:
        return None
    if isinstance(value, int | float):
        if value < 0:
            raise UserError(f"{name} jitter must be >= 0, got {value}")
        lo, hi = max(center - value, bound[0]), center + value
        if name == "hue":  # no clipping: a hue jitter above 0.5 is an error, not a clip
            lo = center - value
    else:
        lo, hi = (float(v) for v in value)
    if not (bound[0] <= lo <= hi <= bound[1]):
        raise UserError(
            f"{name} range must satisfy {bound[0]} <= min <= max <= {bound[1]}, got ({lo}, {hi})"
        )
    return None if (lo, hi) == (center, center) else (lo, hi)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, in a random order per image.

    Each factor is uniform in its range (brightness b -> [max(0, 1 - b), 1 + b], likewise for
    contrast and saturation; hue h -> [-h, h] with h <= 0.5), drawn per image, and each image
    applies the enabled ops in its own random order, as torchvision's ColorJitter does per call.
    """

    OPS = ("brightness", "contrast", "saturation", "hue")
    _FNS = {
        "brightness": adjust_brightness,
        "contrast": adjust_contrast,
        "saturation": adjust_saturation,
        "hue": adjust_hue,
    }

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0) -> None:
        inf = float("inf")
        self.ranges = {
            "brightness": _factor_range(brightness, "brightness", 1.0, (0.0, inf)),
            "contrast": _factor_range(contrast, "contrast", 1.0, (0.0, inf)),
            "saturation": _factor_range(saturation, "saturation", 1.0, (0.0, inf)),
            "hue": _factor_range(hue, "hue", 0.0, (-0.5, 0.5)),
        }

    def sample_params(self, shape, generator=None) -> Params:
        """{"order": (N, 4) permutation of op indices per image, op name: (N,) factors or None}."""
        n = _shape_of(shape)[0]
        params: Params = {}
        for name in self.OPS:
            rng = self.ranges[name]
            if rng is None:
                params[name] = None
            else:
                u = torch.rand(n, generator=generator, dtype=torch.float64)
                params[name] = rng[0] + (rng[1] - rng[0]) * u
        params["order"] = torch.rand(n, len(self.OPS), generator=generator).argsort(dim=1)
        return params

    def apply(self, x, params):
        _check_batch(x, params["order"].shape[0], "ColorJitter")
        _check_color(x, "ColorJitter")
        order = params["order"].to(x.device)
        out = x.clone()
        for step in range(order.shape[1]):
            for op, name in enumerate(self.OPS):
                factor = params[name]
                if factor is None:
                    continue
                chosen = (order[:, step] == op).nonzero().squeeze(1)
                if chosen.numel():
                    out[chosen] = self._FNS[name](out[chosen], factor.to(x.device)[chosen])
        return out


class Compose(Transform):
    """Run transforms in turn; parameters are sampled per transform on the shape it will see."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def output_shape(self, shape):
        for t in self.transforms:
            shape = t.output_shape(shape)
        return tuple(shape)

    def sample_params(self, shape, generator=None) -> Params:
        shape = _shape_of(shape)
        steps = []
        for t in self.transforms:
            steps.append(t.sample_params(shape, generator))
            shape = t.output_shape(shape)
        return {"steps": steps}

    def apply(self, x, params):
        if len(params["steps"]) != len(self.transforms):
            raise UserError(
                f"Compose has {len(self.transforms)} transforms, "
                f"got params for {len(params['steps'])}"
            )
        for t, p in zip(self.transforms, params["steps"], strict=True):
            x = t.apply(x, p)
        return x
