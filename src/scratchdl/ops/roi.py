"""RoI pooling and RoI align: a fixed-size feature grid for every region (Fast/Faster R-CNN,
Mask R-CNN). Twins: torchvision.ops.roi_pool and roi_align, outputs and gradients.

Regions are [K, 5] rows (batch index, x1, y1, x2, y2) in image coordinates, or a list of
[L_i, 4] boxes per image; spatial_scale maps them onto the feature map (1/16 for a stride-16
backbone). No loop over regions or bins:
- roi_pool rounds the region to feature cells, splits it into output bins (floor start, ceil
  end, so neighbouring bins may share a cell) and takes each bin's maximum; all bins are
  gathered at once, padded to the largest bin with -inf. An empty bin gives 0. The gradient
  goes to the first maximum of each bin (row-major), as torchvision's argmax.
- roi_align samples each bin on a grid of points (sampling_ratio per side, or, when it is
  <= 0, ceil(region size / output size) per region: "adaptive") by bilinear interpolation and
  averages them. Bilinear weights factor into a row part and a column part, so each region's
  output is one matrix product A_y @ window @ A_x^T, with A built by scatter-add and the
  window the feature cells the region touches (gathered for all regions at once); autograd
  gives the exact gradient. aligned=True shifts by half a pixel (the corrected Detectron2
  convention); aligned=False keeps the original, with regions at least 1 cell wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scratchdl.errors import UserError


def as_rois(boxes: torch.Tensor | Sequence[torch.Tensor], batch: int) -> torch.Tensor:
    """[K, 5] (batch index, x1, y1, x2, y2) from either accepted form."""
    if isinstance(boxes, torch.Tensor):
        rois = boxes
    else:
        parts = []
        for i, b in enumerate(boxes):
            if b.ndim != 2 or b.shape[1] != 4:
                raise UserError(f"roi: image {i} boxes must be [L, 4], got {tuple(b.shape)}")
            parts.append(torch.cat((torch.full_like(b[:, :1], i), b), dim=1))
        rois = torch.cat(parts) if parts else torch.zeros(0, 5)
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise UserError(
            f"roi: boxes must be [K, 5] (batch index, x1, y1, x2, y2), got {tuple(rois.shape)}"
        )
    if len(rois) and (rois[:, 0].min() < 0 or rois[:, 0].max() >= batch):
        raise UserError(f"roi: batch index out of range [0, {batch}) in boxes[:, 0]")
    return rois


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """C's round(): halves away from zero (torch.round sends halves to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def _bin_edges(start: torch.Tensor, length: torch.Tensor, bins: int, limit: int):
    """Per region and bin: first and one-past-last cell, clipped to [0, limit]."""
    size = length / bins
    p = torch.arange(bins, dtype=size.dtype, device=size.device)
    lo = torch.floor(p[None] * size[:, None]) + start[:, None]
    hi = torch.ceil((p[None] + 1) * size[:, None]) + start[:, None]
    return lo.clamp(0, limit).long(), hi.clamp(0, limit).long()


def roi_pool(
    input: torch.Tensor,
    boxes: torch.Tensor | Sequence[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
) -> torch.Tensor:
    """Max over each bin of each region: [N, C, H, W] -> [K, C, oh, ow]."""
    rois = as_rois(boxes, input.shape[0])
    (oh, ow), (_, c, h, w) = _pair(output_size), input.shape
    if len(rois) == 0:
        return input.new_zeros(0, c, oh, ow)
    corners = _round_half_away(rois[:, 1:].double() * spatial_scale)
    width = (corners[:, 2] - corners[:, 0] + 1).clamp(min=1)
    height = (corners[:, 3] - corners[:, 1] + 1).clamp(min=1)
    y0, y1 = _bin_edges(corners[:, 1], height, oh, h)
    x0, x1 = _bin_edges(corners[:, 0], width, ow, w)
    mh, mw = max(int((y1 - y0).max()), 1), max(int((x1 - x0).max()), 1)
    ys = y0[..., None] + torch.arange(mh, device=input.device)  # [K, oh, mh]
    xs = x0[..., None] + torch.arange(mw, device=input.device)  # [K, ow, mw]
    y_ok, x_ok = ys < y1[..., None], xs < x1[..., None]
    batch = rois[:, 0].long()
    # advanced indices around a slice: result [K, oh, mh, ow, mw, C]
    vals = input[
        batch[:, None, None, None, None],
        :,
        ys.clamp(max=h - 1)[:, :, :, None, None],
        xs.clamp(max=w - 1)[:, None, None, :, :],
    ]
    ok = y_ok[:, :, :, None, None] & x_ok[:, None, None, :, :]
    vals = vals.masked_fill(~ok[..., None], float("-inf"))
    vals = vals.permute(0, 5, 1, 3, 2, 4).reshape(len(rois), c, oh, ow, mh * mw)
    best = vals.max(dim=-1).values
    empty = ~(ok.any(dim=(2, 4)))  # [K, oh, ow]
    return best.masked_fill(empty[:, None], 0.0)


def _axis_weights(
    start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, bins: int, size: int
) -> torch.Tensor:
    """[K, bins, size] interpolation matrix along one axis, summed over each bin's samples
    (torchvision's bilinear_interpolate split into its row or column factor)."""
    k, g = start.shape[0], int(grid.max())
    p = torch.arange(bins, dtype=start.dtype, device=start.device)[None, :, None]
    i = torch.arange(g, dtype=start.dtype, device=start.device)[None, None, :]
    gr = grid.to(start.dtype)[:, None, None]
    pos = (
        start[:, None, None]
        + p * bin_size[:, None, None]
        + (i + 0.5) * bin_size[:, None, None] / gr
    )
    valid = (i < gr) & (pos >= -1.0) & (pos <= size)
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, size - 1, low)
    high = torch.where(at_edge, size - 1, low + 1)
    pos = torch.where(at_edge, low.to(pos.dtype), pos)
    frac = pos - low
    weights = torch.zeros(k, bins, size, dtype=start.dtype, device=start.device)
    zero = torch.zeros_like(frac)
    weights.scatter_add_(2, low.reshape(k, bins, g), torch.where(valid, 1 - frac, zero))
    weights.scatter_add_(2, high.reshape(k, bins, g), torch.where(valid, frac, zero))
    return weights


def roi_align(
    input: torch.Tensor,
    boxes: torch.Tensor | Sequence[torch.Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """Average of bilinear samples in each bin of each region: [N, C, H, W] -> [K, C, oh, ow]."""
    rois = as_rois(boxes, input.shape[0])
    (oh, ow), (_, c, h, w) = _pair(output_size), input.shape
    if len(rois) == 0:
        return input.new_zeros(0, c, oh, ow)
    corners = rois[:, 1:].to(input.dtype) * spatial_scale - (0.5 if aligned else 0.0)
    width, height = corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]
    if not aligned:
        width, height = width.clamp(min=1), height.clamp(min=1)
    if sampling_ratio > 0:
        grid_h = torch.full_like(height, sampling_ratio, dtype=torch.long)
        grid_w = torch.full_like(width, sampling_ratio, dtype=torch.long)
    else:
        grid_h, grid_w = torch.ceil(height / oh).long(), torch.ceil(width / ow).long()
    a_y = _axis_weights(corners[:, 1], height / oh, grid_h.clamp(min=1), oh, h)
    a_x = _axis_weights(corners[:, 0], width / ow, grid_w.clamp(min=1), ow, w)
    a_y = a_y * (grid_h > 0)[:, None, None]  # a zero grid samples nothing: output 0
    count = (grid_h * grid_w).clamp(min=1).to(input.dtype)
    a_y, y_idx = _window(a_y)
    a_x, x_idx = _window(a_x)
    batch = rois[:, 0].long()
    per_region = c * y_idx.shape[1] * x_idx.shape[1]
    step = max(1, WINDOW_ELEMENTS // per_region)
    parts = []
    for k in range(0, len(rois), step):  # chunks of regions bound the gathered windows' memory
        s = slice(k, k + step)
        win = input[batch[s, None, None], :, y_idx[s, :, None], x_idx[s, None, :]]  # [k,hw,ww,C]
        parts.append(torch.einsum("kph,khwc,kqw->kcpq", a_y[s], win, a_x[s]))
    return torch.cat(parts) / count[:, None, None, None]


WINDOW_ELEMENTS = 1 << 24  # at most 16M gathered feature values at a time


def _window(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut [K, bins, size] interpolation weights to the smallest window holding every
    region's nonzero cells: (weights [K, bins, win], cell indices [K, win]). Windows start at
    min(first nonzero, size - win), so their cells stay distinct and inside the map."""
    k, _, size = weights.shape
    used = (weights != 0).any(dim=1)  # [K, size]
    first = used.to(torch.int8).argmax(dim=1)
    last = size - 1 - used.flip(1).to(torch.int8).argmax(dim=1)
    win = max(int((last - first).max()) + 1, 1)
    start = torch.minimum(first, torch.full_like(first, size - win))
    idx = start[:, None] + torch.arange(win, device=weights.device)
    return weights.gather(2, idx[:, None, :].expand(k, weights.shape[1], win)), idx
