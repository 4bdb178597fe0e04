"""RoI pooling and RoI align against torchvision.ops, outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from torchvision import ops

from scratchdl.errors import UserError
from scratchdl.ops.roi import roi_align, roi_pool


def make_case(seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [2, 3, 13, 17] and 24 regions: inside, overlapping the border, outside, tiny,
    zero-size, half-integer corners (rounding)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 13, 17, generator=gen, dtype=dtype)
    xy = torch.rand(20, 2, generator=gen) * 70 - 8
    wh = torch.rand(20, 2, generator=gen) * 45
    boxes = torch.cat((xy, xy + wh), 1)
    extra = torch.tensor(
        [[5.0, 5, 5, 5], [2.0, 6, 10, 14], [100.0, 100, 120, 130], [-30.0, -30, -2, -1]]
    )
    boxes = torch.cat((boxes, extra))
    batch = torch.randint(0, 2, (24, 1), generator=gen).float()
    return x, torch.cat((batch, boxes), 1).to(dtype)


@pytest.mark.parametrize("scale,size", [(0.25, (3, 4)), (0.5, 2), (1.0, (5, 5))])
def test_roi_pool_equals_torchvision(scale: float, size: int | tuple[int, int]) -> None:
    x, rois = make_case(0)
    x.requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    ours, twin = roi_pool(x, rois, size, scale), ops.roi_pool(x2, rois, size, scale)
    torch.testing.assert_close(ours, twin, rtol=0, atol=0)
    weight = torch.randn_like(ours)
    (ours * weight).sum().backward()
    (twin * weight).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2])
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_equals_torchvision(sampling_ratio: int, aligned: bool) -> None:
    x, rois = make_case(1)
    x.requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    args = ((3, 4), 0.25, sampling_ratio, aligned)
    ours, twin = roi_align(x, rois, *args), ops.roi_align(x2, rois, *args)
    torch.testing.assert_close(ours, twin, rtol=1e-12, atol=1e-12)
    weight = torch.randn_like(ours)
    (ours * weight).sum().backward()
    (twin * weight).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-12, atol=1e-12)


def test_roi_float32_list_boxes_and_gradcheck() -> None:
    x, rois = make_case(2, torch.float32)
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    torch.testing.assert_close(
        roi_align(x, per_image, 2, 0.5, 2), ops.roi_align(x, per_image, 2, 0.5, 2)
    )
    torch.testing.assert_close(roi_pool(x, per_image, 2, 0.5), ops.roi_pool(x, per_image, 2, 0.5))
    xd, rd = make_case(3)
    xd = xd[:, :1, :6, :7].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rd[:6] / 8, 2, 1.0, -1, True), (xd,))


def test_roi_hand_values_and_errors() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # the whole map in 2 x 2 bins: maxima of the quadrants
    box = torch.tensor([[0.0, 0, 0, 3, 3]])
    assert roi_pool(x, box, 2).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    # aligned roi_align of cell (1, 1) exactly: the single sample hits its centre value 5
    cell = torch.tensor([[0.0, 1, 1, 2, 2]])
    assert roi_align(x, cell, 1, 1.0, 1, aligned=True).item() == pytest.approx(5.0)
    assert roi_align(x, torch.zeros(0, 5), 2).shape == (0, 1, 2, 2)
    with pytest.raises(UserError, match="batch index"):
        roi_pool(x, torch.tensor([[1.0, 0, 0, 1, 1]]), 2)
    with pytest.raises(UserError, match=r"\[K, 5\]"):
        roi_align(x, torch.zeros(3, 4), 2)


def test_roi_align_in_chunks_of_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    x, rois = make_case(4)
    whole = roi_align(x, rois, 3, 0.25, -1, True)
    monkeypatch.setattr(sys.modules["scratchdl.ops.roi"], "WINDOW_ELEMENTS", 40)
    # Same arithmetic per region; only the summation order of a few bilinear sums may differ
    # in the last bit of a double.
    torch.testing.assert_close(roi_align(x, rois, 3, 0.25, -1, True), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(whole, ops.roi_align(x, rois, 3, 0.25, -1, True))
