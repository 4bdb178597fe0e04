"""PixelCNN masks by gradient (no output depends on its own or later pixels), exact NLL in
nats and bits/dim, row-cropped sampling; diffusion schedule quantities in closed form, DDIM
with eta = 1 over every step equal to the DDPM step, classifier-free guidance mixing."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from scratchdl.errors import UserError
from scratchdl.models.generative.ddpm import DDPM, beta_schedule, ddim_times, timestep_embedding
from scratchdl.models.generative.pixelcnn import MaskedConv2d, PixelCNN, causal_mask


def _dependence(f, c: int, h: int, w: int) -> torch.Tensor:
    """dep[o, i]: does output element o (flattened c, h, w) change with input element i?"""
    x = torch.randn(1, c, h, w, requires_grad=True)
    y = f(x)
    rows = []
    for o in range(y.numel()):
        (g,) = torch.autograd.grad(y.flatten()[o], x, retain_graph=True)
        rows.append(g.flatten() != 0)
    return torch.stack(rows)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_earlier_pixels(mask_type):
    torch.manual_seed(0)
    conv = MaskedConv2d(1, 3, 5, mask_type)
    with torch.no_grad():
        conv.weight.uniform_(0.5, 1.0)  # no weight is zero by chance
    dep = _dependence(conv, 1, 5, 5).view(3, 25, 25)
    pos = torch.arange(25)
    earlier = pos[:, None] > pos[None, :]  # output pixel p may see input pixels q < p
    for o in range(3):
        allowed = earlier | (torch.eye(25, dtype=torch.bool) if mask_type == "B" else False)
        assert not (dep[o] & ~allowed).any()
        # and it does see the earlier pixels inside its 5x5 window (the mask is not too strict)
        assert dep[o][12, 6] and dep[o][12, 11] and dep[o][12, 12] == (mask_type == "B")


def test_pixelcnn_output_never_depends_on_current_or_later_pixels():
    torch.manual_seed(0)
    net = PixelCNN(channels=16, layers=2)
    dep = _dependence(net, 1, 8, 8)  # [64 outputs, 64 inputs]
    pos = torch.arange(64)
    assert not (dep & ~(pos[:, None] > pos[None, :])).any()  # strictly earlier only
    assert dep[63].sum() > 20  # the last pixel sees many of those before it


def test_channel_groups_of_the_centre_tap():
    m_a, m_b = causal_mask(6, 3, 3, "A", 3), causal_mask(6, 3, 3, "B", 3)
    # outputs 0-1 are R, 2-3 G, 4-5 B; inputs 0 R, 1 G, 2 B
    want_a = torch.tensor([[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]])
    assert torch.equal(m_a[:, :, 1, 1], want_a.float())
    assert torch.equal(m_b[:, :, 1, 1], (want_a + torch.eye(3).repeat_interleave(2, 0)).float())
    assert torch.equal(m_a[:, :, 0], torch.ones(6, 3, 3)) and m_a[:, :, 2].sum() == 0
    with pytest.raises(ValueError, match="mask_type"):
        causal_mask(1, 1, 3, "C")


def test_pixelcnn_nll_in_nats_and_bits():
    torch.manual_seed(0)
    net = PixelCNN(channels=16, layers=1)
    x = (torch.rand(3, 1, 28, 28) < 0.3).float()
    p = torch.sigmoid(net(x))
    by_hand = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(net.nll(x), by_hand, rtol=1e-4)
    out = net.loss(x)
    assert out["bits_per_dim"].item() == pytest.approx(
        by_hand.mean().item() / (784 * math.log(2)), rel=1e-4
    )


def test_pixelcnn_row_cropped_sampling_is_exact():
    torch.manual_seed(0)
    net = PixelCNN(channels=8, layers=1).eval()
    net.image_shape = (1, 6, 6)
    a = net.sample(4, generator=torch.Generator().manual_seed(3), crop=True)
    b = net.sample(4, generator=torch.Generator().manual_seed(3), crop=False)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}


def test_schedules_in_closed_form():
    b = beta_schedule("linear", 1000)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    abar = torch.cumprod(1 - b, 0)
    # log abar_T = sum log(1 - beta_t) ~ -sum beta_t = -1000 * 0.010005 -> abar_T ~ 4e-5
    assert abar[-1].item() == pytest.approx(4.04e-5, rel=0.05)
    c = beta_schedule("cosine", 1000)
    abar_c = torch.cumprod(1 - c, 0)
    s, t = 0.008, torch.arange(1, 1001, dtype=torch.float64) / 1000
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    assert torch.allclose(abar_c[:-50], f[:-50], rtol=1e-9)  # clipping only bites at the end
    with pytest.raises(UserError, match="model.schedule must be one of linear, cosine"):
        beta_schedule("quadratic", 10)


def test_noising_matches_q_xt_given_x0():
    torch.manual_seed(0)
    m = DDPM(steps=50, channels=8)
    a = m.abar[20]
    # x_t = sqrt(abar) x0 + sqrt(1 - abar) eps: mean and variance of many draws
    x0 = torch.full((20000,), 0.5, dtype=torch.float64)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(20000, dtype=torch.float64)
    assert xt.mean().item() == pytest.approx((a.sqrt() * 0.5).item(), abs=0.02)
    assert xt.var().item() == pytest.approx((1 - a).item(), rel=0.05)
    # and abar is the running product of 1 - beta
    assert m.abar[20].item() == pytest.approx(torch.prod(1 - m.betas[:21]).item())


def test_ddim_eta1_every_step_is_the_ddpm_step():
    torch.manual_seed(0)
    m = DDPM(steps=100, schedule="cosine", channels=8).double()
    xt, eps, z = torch.randn(3, 2, 1, 28, 28, dtype=torch.float64)
    for t in (99, 50, 1):
        a, b = m.ddpm_step(xt, t, eps, z), m.ddim_step(xt, t, t - 1, eps, z, eta=1.0)
        assert torch.allclose(a, b, atol=1e-10), t
        # sigma^2 of DDIM(eta=1) is the posterior variance beta~_t
        at, ap = m.abar[t], m.abar[t - 1]
        sigma2 = (1 - ap) / (1 - at) * (1 - at / ap)
        assert sigma2.item() == pytest.approx(((1 - ap) / (1 - at) * m.betas[t]).item())
    # eta = 0 from t to the data: the predicted x0, no noise
    x0 = (xt - (1 - m.abar[5]).sqrt() * eps) / m.abar[5].sqrt()
    assert torch.allclose(m.ddim_step(xt, 5, -1, eps, z, eta=0.0), x0)


def test_samplers_run_and_guidance_mixes_predictions():
    torch.manual_seed(0)
    m = DDPM(steps=20, channels=8, conditional=True, guidance=3.0).eval()
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([5, 7]), torch.tensor([1, 4])
    ec, eu = m.unet(x, t, y), m.unet(x, t, torch.full_like(y, 10))
    assert torch.allclose(m.eps(x, t, y), eu + 3.0 * (ec - eu), atol=1e-5)
    for sampler, k in (("ddpm", None), ("ddim", 5)):
        s = m.sample(3, None, torch.Generator().manual_seed(0), sampler=sampler, sample_steps=k)
        assert s.shape == (3, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    out = m.loss(torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    assert out["loss"].item() > 0


def test_timestep_embedding():
    e = timestep_embedding(torch.tensor([0, 3]), 8)
    assert torch.equal(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert e[1, 0].item() == pytest.approx(math.sin(3.0)) and F.normalize(e, dim=1).shape == e.shape


def test_ddim_times_by_hand():
    assert ddim_times(10, 4) == [9, 6, 3, 0]
    # squares of 0, 1/3, 2/3, 1 times 9: 0, 1, 4, 9
    assert ddim_times(10, 4, "quadratic") == [9, 4, 1, 0]
    # 0, 0.25, 1, 2.25, 4 round to 0, 0, 1, 2, 4; crowded steps move up to stay distinct
    assert ddim_times(5, 5, "quadratic") == [4, 3, 2, 1, 0] == ddim_times(5, 5)
    assert ddim_times(7, 1) == [6]
    for k in (2, 10, 50, 333, 1000):
        for spacing in ("uniform", "quadratic"):
            t = ddim_times(1000, k, spacing)
            assert len(t) == k and t[0] == 999 and t[-1] == 0
            assert all(a > b for a, b in zip(t, t[1:], strict=False))
    # the uniform spacing is numpy's evenly spaced grid, rounded
    import numpy as np

    assert ddim_times(1000, 50) == np.linspace(999, 0, 50).round().astype(int).tolist()
    with pytest.raises(UserError, match="model.spacing must be one of uniform, quadratic"):
        ddim_times(10, 4, "cubic")
    with pytest.raises(ValueError, match=r"sample_steps must be in 1\.\.10"):
        ddim_times(10, 11)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize(
    "sampler, k, spacing",
    [("ddpm", None, "uniform"), ("ddim", 10, "uniform"), ("ddim", 10, "quadratic")],
)
def test_samplers_with_the_exact_denoiser_return_the_data(schedule, sampler, k, spacing):
    """Data = one image c: the optimal eps(x_t, t) is (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)
    in closed form; every sampler driven by it must end exactly at c (a test of the update
    rules and time indexing that no training noise can hide)."""
    torch.manual_seed(0)
    m = DDPM(steps=100, schedule=schedule, channels=8, sampler=sampler, eta=0.5, spacing=spacing)
    m = m.eval()
    c = torch.rand(1, 1, 28, 28) * 1.6 - 0.8  # in [-0.8, 0.8]: the clip never bites

    def oracle(x, t, y):
        a = m.abar[t].float().view(-1, 1, 1, 1)
        return (x - a.sqrt() * c) / (1 - a).sqrt()

    m.eps = oracle
    out = m.sample(4, None, torch.Generator().manual_seed(1), sample_steps=k)
    assert torch.allclose(out, ((c + 1) / 2).expand(4, -1, -1, -1), atol=1e-4)
