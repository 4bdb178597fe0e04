"""Regularizers: penalties, DropConnect, stochastic depth (twin: torchvision), cutout, mixup."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from scratchdl.errors import UserError
from scratchdl.scratch import regularize as R


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))


def test_penalties_sum_the_weights_and_skip_bias_and_norm():
    net = _net()
    conv, bn, _, fc = net
    weights = [conv.weight, fc.weight]
    everything = list(net.parameters())
    assert [id(p) for p in R.decay_parameters(net)] == [id(p) for p in weights]
    torch.testing.assert_close(R.l2_penalty(net), sum((w**2).sum() for w in weights))
    torch.testing.assert_close(R.l1_penalty(net), sum(w.abs().sum() for w in weights))
    torch.testing.assert_close(
        R.l2_penalty(net, skip_bias_and_norm=False), sum((p**2).sum() for p in everything)
    )
    value = R.elastic_net_penalty(net, reg=0.3, l1_ratio=0.25)
    torch.testing.assert_close(value, 0.3 * (0.25 * R.l1_penalty(net) + 0.75 * R.l2_penalty(net)))
    # Gradient of the L2 penalty is 2w on weights and nothing on bias / norm parameters.
    R.l2_penalty(net).backward()
    torch.testing.assert_close(conv.weight.grad, 2 * conv.weight)
    assert conv.bias.grad is None and bn.weight.grad is None


def test_dropconnect_eval_is_linear_and_train_uses_scaled_mask():
    g = torch.Generator().manual_seed(1)
    layer = R.DropConnectLinear(5, 3, p=0.4, generator=g)
    x = torch.randn(7, 5, dtype=torch.float32)
    layer.eval()
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    layer.train()
    g.manual_seed(2)
    out = layer(x)
    g.manual_seed(2)
    mask = layer.weight_mask()
    assert 0 < mask.sum() < mask.numel()
    expected = F.linear(x, layer.weight * mask / 0.6, layer.bias)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    # Gradients reach the weight only through kept entries.
    g.manual_seed(2)
    layer(x).sum().backward()
    assert torch.all(layer.weight.grad[mask == 0] == 0)


def test_dropconnect_preserves_the_expectation():
    layer = R.DropConnectLinear(4, 2, p=0.5, generator=torch.Generator().manual_seed(3)).double()
    x = torch.randn(3, 4, dtype=torch.float64)
    with torch.no_grad():
        mean = torch.stack([layer(x) for _ in range(20000)]).mean(0)
        ref = F.linear(x, layer.weight, layer.bias)
    # Std of the mean ~ |x||w| / sqrt(20000) ~ 0.01 here; 0.05 is a 5-sigma bound.
    torch.testing.assert_close(mean, ref, rtol=0, atol=0.05)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(1, 3), (8, 3, 4, 5), (16,)])
def test_stochastic_depth_equals_torchvision_on_the_same_draw(p, shape):
    x = torch.randn(shape, dtype=torch.float64)
    ours = R.stochastic_depth(x, p, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(7)
    twin = torchvision.ops.stochastic_depth(x, p, mode="row", training=True)
    assert torch.equal(ours, twin)
    torch.manual_seed(7)  # the global generator path too
    assert torch.equal(R.StochasticDepth(p).train()(x), twin)
    # Each sample is either dropped or scaled by 1 / (1 - p).
    if 0 < p < 1:
        kept = ours.reshape(shape[0], -1)[:, 0] != 0
        scale = torch.where(kept, 1 / (1 - p), 0.0).reshape((-1,) + (1,) * (x.ndim - 1))
        torch.testing.assert_close(ours, x * scale, rtol=1e-15, atol=0)
    assert torch.equal(R.stochastic_depth(x, p, training=False), x)
    assert torch.equal(R.StochasticDepth(p).eval()(x), x)


def test_stochastic_depth_drop_rate():
    x = torch.ones(20000, 2)
    out = R.stochastic_depth(x, 0.3, generator=torch.Generator().manual_seed(0))
    dropped = (out[:, 0] == 0).double().mean().item()
    assert abs(dropped - 0.3) < 0.015  # ~4.6 sigma for n=20000


def test_cutout_zeros_exactly_the_square():
    x = torch.rand(6, 3, 9, 11) + 0.5  # strictly positive, so zeros come from cutout only
    out = R.cutout(x, 4, generator=torch.Generator().manual_seed(5))
    centers = R.sample_cutout_centers(6, 9, 11, torch.Generator().manual_seed(5))
    for i, (cy, cx) in enumerate(centers.tolist()):
        expected = torch.ones(9, 11, dtype=torch.bool)
        expected[max(cy - 2, 0) : cy + 2, max(cx - 2, 0) : cx + 2] = False  # rows cy-2 .. cy+1
        for c in range(3):
            assert torch.equal(out[i, c] != 0, expected)
        assert torch.equal(out[i][:, expected], x[i][:, expected])


def test_cutout_square_hanging_off_the_corner_is_clipped():
    mask = R.cutout_mask(torch.tensor([[0, 0], [4, 4]]), 3, 5, 5)[:, 0]
    assert mask[0].sum() == 4 and mask[0, :2, :2].all()  # rows/cols -1..1 clipped to 0..1
    assert mask[1].sum() == 4 and mask[1, 3:, 3:].all()


def test_mixup_is_a_convex_combination_and_loss_is_weighted_ce():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 5, (8,))
    mixed, (y_a, y_b, lam) = R.mixup(x, y, alpha=0.4, generator=g)
    assert 0.0 <= lam <= 1.0
    # Recover the partner permutation from y_b and check the mix exactly.
    g2 = torch.Generator().manual_seed(9)
    lam2 = R.sample_beta(0.4, g2)
    perm = torch.randperm(8, generator=g2)
    assert lam2 == lam and torch.equal(y_a, y) and torch.equal(y_b, y[perm])
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm], rtol=0, atol=1e-15)
    logits = torch.randn(8, 5, dtype=torch.float64)
    expected = torch.stack(
        [
            lam * F.cross_entropy(logits[i : i + 1], y_a[i : i + 1])
            + (1 - lam) * F.cross_entropy(logits[i : i + 1], y_b[i : i + 1])
            for i in range(8)
        ]
    ).mean()
    torch.testing.assert_close(R.mixup_loss(logits, y_a, y_b, lam), expected, rtol=1e-12, atol=0)


def test_beta_sampler_moments():
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor([R.sample_beta(0.5, g) for _ in range(4000)], dtype=torch.float64)
    # Beta(0.5, 0.5): mean 1/2, variance 1/8; std of the sample mean ~0.0056.
    assert abs(draws.mean().item() - 0.5) < 0.03
    assert abs(draws.var().item() - 0.125) < 0.01
    assert draws.min() >= 0 and draws.max() <= 1


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match=r"must be in \[0, 1\), got 1.0"):
        R.DropConnectLinear(3, 2, p=1.0)
    with pytest.raises(UserError, match=r"expects inputs \(\.\.\., 3\), got \(2, 4\)"):
        R.DropConnectLinear(3, 2)(torch.randn(2, 4))
    with pytest.raises(UserError, match=r"must be in \[0, 1\], got 1.5"):
        R.stochastic_depth(torch.randn(2, 3), 1.5)
    with pytest.raises(UserError, match=r"\(N, C, H, W\), got shape \(3, 8, 8\)"):
        R.cutout(torch.rand(3, 8, 8), 2)
    with pytest.raises(UserError, match="same N"):
        R.mixup(torch.rand(4, 3), torch.arange(3))
    with pytest.raises(UserError, match="alpha must be a positive"):
        R.mixup(torch.rand(4, 3), torch.arange(4), alpha=0.0)
