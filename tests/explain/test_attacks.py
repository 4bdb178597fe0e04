"""FGSM and PGD against captum.robust with the same settings, in pixel space through
PixelModel; random starts compared under the same torch seed; hand-checked L2 steps."""

from __future__ import annotations

import pytest
import torch
from captum.robust import FGSM, PGD
from torch import nn

from scratchdl.errors import UserError
from scratchdl.explain import PixelModel, fgsm, pgd
from scratchdl.models import build_model

CE = nn.CrossEntropyLoss(reduction="none")


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    net = build_model("lenet", in_channels=1, num_classes=10, image_size=(28, 28))
    return PixelModel(net, mean=[0.3], std=[0.35]).double().eval()


def batch(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return torch.rand(n, 1, 28, 28, generator=g).double(), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.03, 0.25])
def test_fgsm_equals_captum(model, eps: float, targeted: bool) -> None:
    x, y = batch()
    ours = fgsm(model, x, y, eps, targeted=targeted)
    twin = FGSM(model, CE, lower_bound=0.0, upper_bound=1.0).perturb(x, eps, y, targeted=targeted)
    torch.testing.assert_close(ours, twin, rtol=0, atol=0)
    assert (ours - x).abs().max() <= eps + 1e-12
    if eps == 0:
        assert torch.equal(ours, x)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_equals_captum_without_random_start(model, norm: str, targeted: bool) -> None:
    x, y = batch()
    eps, alpha = (0.05, 0.02) if norm == "Linf" else (1.0, 0.05)
    ours = pgd(
        model, x, y, eps, steps=5, step_size=alpha, norm=norm, targeted=targeted, l2_step="sign"
    )
    twin = PGD(model, CE, lower_bound=0.0, upper_bound=1.0).perturb(
        x, eps, alpha, 5, y, targeted=targeted, norm=norm
    )
    torch.testing.assert_close(ours, twin, rtol=0, atol=1e-15)
    size = (
        (ours - x).flatten(1).abs().amax(1) if norm == "Linf" else (ours - x).flatten(1).norm(dim=1)
    )
    assert (size <= eps + 1e-9).all() and ours.min() >= 0 and ours.max() <= 1


def test_pgd_random_start_equals_captum_under_the_same_seed(model) -> None:
    x, y = batch(3)
    eps, norm = 0.1, "Linf"
    torch.manual_seed(7)
    ours = pgd(
        model, x, y, eps, steps=3, step_size=0.02, norm=norm, rand_start=True, l2_step="sign"
    )
    torch.manual_seed(7)
    twin = PGD(model, CE, lower_bound=0.0, upper_bound=1.0).perturb(
        x, eps, 0.02, 3, y, norm=norm, random_start=True
    )
    torch.testing.assert_close(ours, twin, rtol=0, atol=1e-12)


def test_l2_random_start_is_inside_the_ball_and_seeded() -> None:
    # captum's L2 random start fails on image batches (it broadcasts r [N] against
    # [N, C, H, W]), so this checks the draw itself: radius * u^(1/d) along a unit direction
    from scratchdl.explain.attacks import random_start

    x = torch.zeros(500, 1, 2, 2, dtype=torch.float64)
    a = random_start(x, 2.0, "L2", torch.Generator().manual_seed(3))
    b = random_start(x, 2.0, "L2", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    r = a.flatten(1).norm(dim=1)
    assert r.max() <= 2.0 and r.min() > 0
    # uniform in the 4-d ball: P(r <= 2 t) = t^4; at t = 0.5: 1/16 of the points
    assert (r <= 1.0).double().mean().item() == pytest.approx(1 / 16, abs=0.03)


def test_pgd_raises_the_loss_more_than_fgsm(model) -> None:
    x, y = batch(16)
    loss = nn.CrossEntropyLoss()
    with torch.no_grad():
        clean = loss(model(x), y)
        one = loss(model(fgsm(model, x, y, 0.05)), y)
        many = loss(model(pgd(model, x, y, 0.05, steps=10)), y)
    assert clean < one < many


def test_l2_gradient_step_is_madrys_normalized_step() -> None:
    # a linear model: the loss gradient is known, one step of PGD-L2 moves by alpha * g/|g|
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False)).double()
    with torch.no_grad():
        lin[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    x = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    y = torch.tensor([0])
    adv = pgd(lin, x, y, 10.0, steps=1, step_size=0.2, norm="L2", bounds=None)
    # dCE/dlogit0 = p0 - 1 < 0, so the step lowers pixel 0 only, by exactly alpha
    expected = x.clone()
    expected[0, 0, 0, 0] -= 0.2
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-15)
    # a radius smaller than the step: projected back onto the L2 sphere of that radius
    adv = pgd(lin, x, y, 0.05, steps=1, step_size=0.2, norm="L2", bounds=None)
    assert (adv - x).norm().item() == pytest.approx(0.05, abs=1e-6)


def test_pixel_model_standardizes_inside() -> None:
    net = nn.Identity()
    pm = PixelModel(net, mean=[0.5], std=[0.25])
    x = torch.tensor([[[[0.0, 1.0]]]])
    torch.testing.assert_close(pm(x), torch.tensor([[[[-2.0, 2.0]]]]))
    torch.testing.assert_close(pm.to_pixels(pm(x)), x)


def test_bad_epsilon_and_settings_are_one_line_errors(model) -> None:
    x, y = batch(1)
    with pytest.raises(UserError, match=r"epsilon: expected a finite number >= 0"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(UserError, match=r"epsilon: expected a finite number >= 0"):
        pgd(model, x, y, float("nan"))
    with pytest.raises(UserError, match=r"norm: expected one of Linf, L2"):
        pgd(model, x, y, 0.1, norm="L1")
    with pytest.raises(UserError, match=r"steps: expected an int >= 1"):
        pgd(model, x, y, 0.1, steps=0)
