"""Batch augmentations: same output as torchvision.transforms.v2.functional on the same params.

Parameters are sampled once by our samplers and applied both by our batched code and, image by
image, by torchvision. Tolerances (float32): flips and brightness exact; contrast and saturation
1e-6; resized crop 1e-5 (coordinates are computed in float64 here, float32 in torch); hue 1e-5
(the RGB -> HSV -> RGB round trip takes a different but equivalent path).
"""

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from scratchdl.errors import UserError
from scratchdl.scratch import augment as A


def _images(n=6, c=3, h=13, w=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g)
    if c == 3:
        # Edge cases for HSV: grey pixels, pure black/white, each channel the max, ties of max.
        x[0, :, 0, :] = x[0, 0, 0, :]
        x[0, :, 1, 0] = 0.0
        x[0, :, 1, 1] = 1.0
        x[0, :, 1, 2] = torch.tensor([1.0, 1.0, 0.2])
        x[0, :, 1, 3] = torch.tensor([0.3, 0.9, 0.9])
        x[0, :, 1, 4] = torch.tensor([0.9, 0.2, 0.9])
    return x


def _per_image_twin(x, fn_twin, factors):
    return torch.stack([fn_twin(x[i], factors[i]) for i in range(x.shape[0])])


@pytest.mark.parametrize(
    "cls,twin",
    [(A.RandomHorizontalFlip, TF.horizontal_flip), (A.RandomVerticalFlip, TF.vertical_flip)],
)
def test_flips_equal_torchvision(cls, twin):
    x = _images(n=12)
    t = cls(p=0.5)
    params = t.sample_params(x, torch.Generator().manual_seed(1))
    flip = params["flip"]
    assert 0 < flip.sum() < 12  # both branches exercised
    expected = torch.stack([twin(x[i]) if flip[i] else x[i] for i in range(12)])
    assert torch.equal(t.apply(x, params), expected)
    assert torch.equal(cls(p=0.0)(x), x)
    assert torch.equal(cls(p=1.0)(x[:1]), twin(x[:1]))  # batch of one


@pytest.mark.parametrize("size", [(9, 11), (20, 7), (5, 5)])  # down, up-and-down, square
@pytest.mark.parametrize("scale,ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.5, 0.9), (0.3, 3.0))])
def test_random_resized_crop_equals_torchvision(size, scale, ratio):
    x = _images(n=10, h=13, w=17, seed=2)
    t = A.RandomResizedCrop(size, scale, ratio)
    params = t.sample_params(x, torch.Generator().manual_seed(3))
    ours = t.apply(x, params)
    assert ours.shape == (10, 3, *size)
    twin = torch.stack(
        [
            TF.resized_crop(x[i], *box, size=list(size), antialias=False)
            for i, box in enumerate(params["boxes"].tolist())
        ]
    )
    torch.testing.assert_close(ours, twin, rtol=0, atol=1e-5)


def test_resized_crop_identity_and_hand_boxes():
    x = _images(n=3, c=1, h=8, w=6, seed=4)
    full = torch.tensor([[0, 0, 8, 6]] * 3)
    assert torch.equal(A.resized_crop(x, full, (8, 6)), x)
    boxes = torch.tensor([[0, 0, 1, 1], [7, 5, 1, 1], [2, 1, 5, 3]])  # corners, interior
    ours = A.resized_crop(x, boxes, (4, 7))
    for i, box in enumerate(boxes.tolist()):
        twin = TF.resized_crop(x[i], *box, size=[4, 7], antialias=False)
        torch.testing.assert_close(ours[i], twin, rtol=0, atol=1e-5)


def test_resized_crop_sampler_respects_ranges_and_matches_torchvision_statistics():
    H, W, n = 40, 30, 2000
    scale, ratio = (0.2, 0.6), (0.5, 2.0)
    t = A.RandomResizedCrop(8, scale=scale, ratio=ratio)
    boxes = t.sample_params((n, 3, H, W), torch.Generator().manual_seed(5))["boxes"]
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= H).all() and (left + w <= W).all()
    # Sizes are rounded to whole pixels, hence the slack; the draws also reach both ends.
    area = h * w / (H * W)
    assert 0.2 * 0.9 <= area.min() < 0.22 and 0.57 < area.max() <= 0.6 * 1.1
    aspect = w / h
    assert 0.5 * 0.9 <= aspect.min() < 0.55 and 1.8 < aspect.max() <= 2.0 * 1.1
    assert top.min() == 0 and (top + h).max() == H
    # Same distribution as torchvision's sampler: means of (top, left, h, w) within 4 standard
    # errors of the difference of two independent means.
    torch.manual_seed(6)
    twin = v2.RandomResizedCrop(8, scale=scale, ratio=ratio)
    image = torch.zeros(1, H, W)
    ref = torch.tensor(
        [list(twin.make_params([image]).values()) for _ in range(n)], dtype=torch.float64
    )
    ours = boxes.double()
    se = ((ours.var(0) + ref.var(0)) / n).sqrt()
    assert ((ours.mean(0) - ref.mean(0)).abs() < 4 * se).all()


def test_resized_crop_fallback_equals_torchvision():
    # An area larger than the image never fits: both fall back to the same centre crop.
    for H, W, ratio in [(20, 50, (0.5, 1.0)), (50, 20, (1.0, 2.0)), (30, 30, (0.5, 2.0))]:
        ours = A.RandomResizedCrop(5, scale=(1.5, 2.0), ratio=ratio)
        boxes = ours.sample_params((3, 1, H, W))["boxes"]
        twin = v2.RandomResizedCrop(5, scale=(1.5, 2.0), ratio=ratio)
        p = twin.make_params([torch.zeros(1, H, W)])
        expected = [p["top"], p["left"], p["height"], p["width"]]
        assert boxes.tolist() == [expected] * 3


COLOR = [
    (A.adjust_brightness, TF.adjust_brightness, (0.0, 2.0), 0.0),
    (A.adjust_contrast, TF.adjust_contrast, (0.0, 2.5), 1e-6),
    (A.adjust_saturation, TF.adjust_saturation, (0.0, 3.0), 1e-6),
    (A.adjust_hue, TF.adjust_hue, (-0.5, 0.5), 1e-5),
]


@pytest.mark.parametrize("ours,twin,bounds,atol", COLOR)
@pytest.mark.parametrize("channels", [3, 1])
def test_color_ops_equal_torchvision(ours, twin, bounds, atol, channels):
    x = _images(n=9, c=channels, seed=6)
    lo, hi = bounds
    factors = lo + (hi - lo) * torch.rand(9, generator=torch.Generator().manual_seed(7))
    factors[:3] = torch.tensor([lo, hi, (lo + hi) / 2])  # ends of the range included
    got = ours(x, factors)
    expected = _per_image_twin(x, twin, factors.tolist())
    torch.testing.assert_close(got, expected, rtol=0, atol=atol)
    assert got.min() >= 0 and got.max() <= 1


def test_hsv_round_trip():
    x = _images(n=4, seed=8)
    torch.testing.assert_close(A.hsv_to_rgb(A.rgb_to_hsv(x)), x, rtol=0, atol=1e-6)


def test_color_jitter_equals_torchvision_in_the_sampled_order():
    x = _images(n=12, seed=9)
    jitter = A.ColorJitter(brightness=0.4, contrast=0.5, saturation=(0.2, 1.8), hue=0.3)
    params = jitter.sample_params(x, torch.Generator().manual_seed(10))
    ours = jitter.apply(x, params)
    fns = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    names = A.ColorJitter.OPS
    for i in range(12):
        img = x[i]
        for op in params["order"][i].tolist():
            img = fns[op](img, params[names[op]][i].item())
        torch.testing.assert_close(ours[i], img, rtol=0, atol=2e-5)
    # The orders differ across images (per-image randomness) and are permutations.
    assert len({tuple(o) for o in params["order"].tolist()}) > 1
    assert (params["order"].sort(dim=1).values == torch.arange(4)).all()


def test_color_jitter_sampler_respects_ranges_and_disabled_ops():
    jitter = A.ColorJitter(brightness=0.4, contrast=1.5, saturation=0.0, hue=0.25)
    params = jitter.sample_params((4000, 3, 2, 2), torch.Generator().manual_seed(11))
    assert params["saturation"] is None
    for name, (lo, hi) in [
        ("brightness", (0.6, 1.4)),
        ("contrast", (0.0, 2.5)),
        ("hue", (-0.25, 0.25)),
    ]:
        f = params[name]
        assert f.min() >= lo and f.max() <= hi
        assert f.min() < lo + 0.01 * (hi - lo) and f.max() > hi - 0.01 * (hi - lo)
    x = _images(n=3, seed=12)
    assert torch.equal(A.ColorJitter()(x), x)  # everything disabled: untouched


def test_compose_samples_on_the_shape_each_step_sees():
    x = _images(n=5, h=16, w=12, seed=13)
    pipeline = A.Compose(
        [A.RandomHorizontalFlip(), A.RandomResizedCrop((8, 8)), A.ColorJitter(0.3, 0.3, 0.3, 0.1)]
    )
    assert pipeline.output_shape(x.shape) == (5, 3, 8, 8)
    params = pipeline.sample_params(x, torch.Generator().manual_seed(14))
    out = pipeline.apply(x, params)
    step = x
    for t, p in zip(pipeline.transforms, params["steps"], strict=True):
        step = t.apply(step, p)
    assert torch.equal(out, step) and out.shape == (5, 3, 8, 8)
    again = pipeline(x, torch.Generator().manual_seed(14))
    assert torch.equal(again, out)  # same seed, same result


def test_bad_input_is_a_user_error():
    x = _images(n=2)
    with pytest.raises(UserError, match=r"\(N, C, H, W\), got shape \(3, 13, 17\)"):
        A.RandomHorizontalFlip()(x[0])
    with pytest.raises(UserError, match="float images"):
        A.adjust_brightness((x * 255).to(torch.uint8), torch.ones(2))
    with pytest.raises(UserError, match="sampled for 3 images, got a batch of 2"):
        A.hflip(x, torch.ones(3, dtype=torch.bool))
    with pytest.raises(UserError, match=r"one factor per image, shape \(2,\), got \(3,\)"):
        A.adjust_contrast(x, torch.ones(3))
    with pytest.raises(UserError, match="1 or 3 channels, got 4"):
        A.adjust_hue(torch.rand(2, 4, 3, 3), torch.zeros(2))
    with pytest.raises(UserError, match=r"hue factors must be in \[-0.5, 0.5\]"):
        A.adjust_hue(x, torch.tensor([0.1, 0.7]))
    with pytest.raises(UserError, match="hue range must satisfy"):
        A.ColorJitter(hue=0.6)
    with pytest.raises(UserError, match="brightness jitter must be >= 0"):
        A.ColorJitter(brightness=-1)
    with pytest.raises(UserError, match="must lie inside 13x17"):
        A.resized_crop(x, torch.tensor([[0, 0, 14, 5], [0, 0, 2, 2]]), (4, 4))
    with pytest.raises(UserError, match="scale and ratio"):
        A.RandomResizedCrop(4, scale=(0.9, 0.1))
