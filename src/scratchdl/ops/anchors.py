"""Anchor boxes: s + r - 1 boxes centred on every pixel of a feature map (the book's rule).

For sizes s_1..s_n (fractions of the image height) and width/height ratios r_1..r_m, each
pixel gets (s_i, r_1) for every i, then (s_1, r_j) for j >= 2: n + m - 1 anchors, not n * m,
the combinations holding the best size and the best ratio. An anchor of size s and ratio r is
s * sqrt(r) * H wide and s / sqrt(r) * H high in pixels (H the image height), so r is the
width/height ratio of the box as drawn. Anchors are ordered pixel by pixel (row-major), the
n + m - 1 anchors of one pixel together, as the book's multibox_prior orders them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.errors import UserError


def _check_sizes(sizes: Sequence[float], ratios: Sequence[float]) -> None:
    if not sizes or not ratios:
        raise UserError("anchors: expected at least one size and one ratio, e.g. sizes=[0.75, 0.5]")
    if min(sizes) <= 0 or min(ratios) <= 0:
        raise UserError(f"anchors: sizes and ratios must be > 0, got {list(sizes)}, {list(ratios)}")


def anchor_shapes(
    sizes: Sequence[float], ratios: Sequence[float], aspect: float = 1.0
) -> torch.Tensor:
    """The n + m - 1 (width, height) pairs of one pixel, normalized: width by the image width,
    height by the image height, where aspect = image height / image width."""
    _check_sizes(sizes, ratios)
    s = torch.tensor(list(sizes), dtype=torch.float64)
    r = torch.tensor(list(ratios), dtype=torch.float64)
    w = torch.cat((s * r[0].sqrt(), s[0] * r[1:].sqrt())) * aspect
    h = torch.cat((s / r[0].sqrt(), s[0] / r[1:].sqrt()))
    return torch.stack((w, h), dim=1)


def multibox_prior(
    feature_hw: tuple[int, int],
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    image_hw: tuple[int, int] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Anchors of a feature map, [fh * fw * (n + m - 1), 4] corner form.

    Normalized to [0, 1] (x by width, y by height) when image_hw is None, as the book's
    multibox_prior (which then takes the aspect from the feature map); in pixels of an image of
    image_hw = (H, W) otherwise. Centres sit at (j + 0.5) / fw, (i + 0.5) / fh of the image.
    """
    fh, fw = int(feature_hw[0]), int(feature_hw[1])
    if fh < 1 or fw < 1:
        raise UserError(f"multibox_prior: feature map size must be >= 1, got {feature_hw}")
    ih, iw = image_hw if image_hw is not None else (fh, fw)
    shapes = anchor_shapes(sizes, ratios, aspect=ih / iw)
    cy = (torch.arange(fh, dtype=torch.float64) + 0.5) / fh
    cx = (torch.arange(fw, dtype=torch.float64) + 0.5) / fw
    cy, cx = torch.meshgrid(cy, cx, indexing="ij")
    centres = torch.stack((cx, cy, cx, cy), dim=-1).reshape(-1, 1, 4)
    half = torch.cat((-shapes, shapes), dim=1) / 2  # [k, 4]: -w/2, -h/2, w/2, h/2
    anchors = (centres + half[None]).reshape(-1, 4)
    if image_hw is not None:
        anchors = anchors * torch.tensor([iw, ih, iw, ih], dtype=torch.float64)
    return anchors.to(dtype=torch.float32, device=device)


def multiscale_anchors(
    feature_hws: Sequence[tuple[int, int]],
    sizes: Sequence[Sequence[float]],
    ratios: Sequence[float] | Sequence[Sequence[float]],
    *,
    image_hw: tuple[int, int] | None = None,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """One multibox_prior per feature map (SSD's scales: small anchors on the fine maps,
    large on the coarse); concatenate with torch.cat for the whole image's anchors."""
    if len(sizes) != len(feature_hws):
        raise UserError(
            f"multiscale_anchors: {len(feature_hws)} feature maps need {len(feature_hws)} "
            f"size lists, got {len(sizes)}"
        )
    per_map = ratios if ratios and isinstance(ratios[0], Sequence) else [ratios] * len(sizes)
    if len(per_map) != len(feature_hws):
        raise UserError(
            f"multiscale_anchors: expected one ratio list or {len(feature_hws)}, got {len(per_map)}"
        )
    return [
        multibox_prior(hw, s, r, image_hw=image_hw, device=device)
        for hw, s, r in zip(feature_hws, sizes, per_map, strict=True)
    ]
