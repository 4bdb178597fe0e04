"""Initializers: equal to torch.nn.init bit for bit given the same generator, and sample
statistics matching the formula on large tensors.

Statistics tolerances (n >= 1e5 samples): sample std within 1.5% of the formula (the std of
the estimate is ~0.3% at this n, so this is a ~5-sigma bound); |mean| < 5 std / sqrt(n);
uniform samples lie inside [-bound, bound] and reach 99.9% of it.
"""

import math

import pytest
import torch
from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.resnet import BasicBlock, Bottleneck

from scratchdl.errors import UserError
from scratchdl.scratch.init import (
    calculate_gain,
    fan_in_and_fan_out,
    kaiming_normal_,
    kaiming_std,
    kaiming_uniform_,
    xavier_normal_,
    xavier_uniform_,
    zero_init_last_norm_,
)

# Linear (out, in), Conv1d, Conv2d, Conv3d, ConvTranspose2d-like, non-square kernels.
SHAPES = [(64, 32), (7, 4, 5), (16, 8, 3, 3), (5, 3, 2, 4, 4), (8, 16, 3, 5), (1, 1), (3, 1, 1, 1)]
NONLINEARITIES = [
    ("relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", None), ("tanh", None),
    ("linear", None), ("selu", None), ("sigmoid", None), ("conv2d", None),
]  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    w = torch.empty(shape)
    assert fan_in_and_fan_out(w) == nn.init._calculate_fan_in_and_fan_out(w)


@pytest.mark.parametrize("nonlinearity,a", NONLINEARITIES)
def test_gain_matches_torch(nonlinearity, a):
    assert calculate_gain(nonlinearity, a) == nn.init.calculate_gain(nonlinearity, a)


def check_same_draw(ours, theirs, shape, **kwargs):
    a, b = torch.empty(shape, dtype=torch.float64), torch.empty(shape, dtype=torch.float64)
    ours(a, generator=torch.Generator().manual_seed(11), **kwargs)
    theirs(b, generator=torch.Generator().manual_seed(11), **kwargs)
    assert torch.equal(a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2.0)])
def test_xavier_equals_torch(shape, gain):
    check_same_draw(xavier_uniform_, nn.init.xavier_uniform_, shape, gain=gain)
    check_same_draw(xavier_normal_, nn.init.xavier_normal_, shape, gain=gain)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.1), ("leaky_relu", 0)])
def test_kaiming_equals_torch(shape, mode, nonlinearity, a):
    kw = dict(a=a, mode=mode, nonlinearity=nonlinearity)
    check_same_draw(kaiming_uniform_, nn.init.kaiming_uniform_, shape, **kw)
    check_same_draw(kaiming_normal_, nn.init.kaiming_normal_, shape, **kw)


def test_defaults_equal_torch_defaults():
    """No keyword arguments: Kaiming defaults (fan_in, leaky_relu a=0) match torch's."""
    for ours, theirs in [(kaiming_uniform_, nn.init.kaiming_uniform_),
                         (kaiming_normal_, nn.init.kaiming_normal_),
                         (xavier_uniform_, nn.init.xavier_uniform_)]:  # fmt: skip
        check_same_draw(ours, theirs, (32, 16, 3, 3))


def check_stats(w: torch.Tensor, std: float, uniform: bool):
    n = w.numel()
    assert n >= 100_000
    assert abs(w.mean().item()) < 5 * std / math.sqrt(n)
    assert w.std().item() == pytest.approx(std, rel=0.015)
    if uniform:
        bound = math.sqrt(3.0) * std
        assert w.abs().max().item() <= bound
        assert w.abs().max().item() >= 0.999 * bound


BIG = [(512, 256), (128, 96, 3, 3), (96, 32, 3, 3, 5)]  # linear, conv2d, conv3d (non-cubic)


@pytest.mark.parametrize("shape", BIG)
def test_xavier_statistics(shape):
    fan_in, fan_out = fan_in_and_fan_out(torch.empty(shape))
    for g in (1.0, 5.0 / 3):
        std = g * math.sqrt(2.0 / (fan_in + fan_out))
        gen = torch.Generator().manual_seed(0)
        check_stats(xavier_uniform_(torch.empty(shape), gain=g, generator=gen), std, True)
        check_stats(xavier_normal_(torch.empty(shape), gain=g, generator=gen), std, False)


@pytest.mark.parametrize("shape", BIG)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0.0), ("leaky_relu", 0.3)])
def test_kaiming_statistics(shape, mode, nonlinearity, a):
    fan_in, fan_out = fan_in_and_fan_out(torch.empty(shape))
    fan = fan_in if mode == "fan_in" else fan_out
    std = math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan)  # He et al.: Var = 2 / ((1 + a^2) fan)
    assert kaiming_std(torch.empty(shape), a, mode, nonlinearity) == pytest.approx(std, rel=1e-12)
    gen = torch.Generator().manual_seed(1)
    kw = dict(a=a, mode=mode, nonlinearity=nonlinearity, generator=gen)
    check_stats(kaiming_uniform_(torch.empty(shape), **kw), std, True)
    check_stats(kaiming_normal_(torch.empty(shape), **kw), std, False)


def test_initializers_keep_parameters_and_grad_mode():
    layer = nn.Conv2d(3, 4, 3)
    out = kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    assert out is layer.weight and layer.weight.requires_grad
    assert xavier_uniform_(torch.empty(0, 3)).shape == (0, 3)  # empty: a no-op, like torch
    assert kaiming_uniform_(torch.empty(4, 0)).shape == (4, 0)


def test_bad_input():
    with pytest.raises(UserError, match=">= 2 dims"):
        xavier_uniform_(torch.empty(5))
    with pytest.raises(UserError, match=">= 2 dims"):
        kaiming_normal_(torch.empty(()))
    with pytest.raises(UserError, match="mode"):
        kaiming_uniform_(torch.empty(3, 3), mode="fan_avg")
    with pytest.raises(UserError, match="nonlinearity"):
        kaiming_normal_(torch.empty(3, 3), nonlinearity="gelu")
    with pytest.raises(UserError, match="floating-point"):
        xavier_normal_(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(UserError, match="slope"):
        calculate_gain("leaky_relu", "0.1")


def norm_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        n: m.weight.detach().clone()
        for n, m in model.named_modules()
        if isinstance(m, nn.BatchNorm2d | nn.LayerNorm | nn.GroupNorm)
    }


@pytest.mark.parametrize("builder,block_type", [(resnet18, BasicBlock), (resnet50, Bottleneck)])
def test_zero_init_matches_torchvision_zero_init_residual(builder, block_type):
    """Per block: the last norm of the branch is zeroed, the downsample BN is left alone."""
    torch.manual_seed(0)
    ours = builder()
    for m in ours.modules():
        if isinstance(m, block_type):
            zero_init_last_norm_(m)
    expected = builder(zero_init_residual=True)
    got, want = norm_weights(ours), norm_weights(expected)
    assert got.keys() == want.keys()
    zeroed = {n for n, w in got.items() if (w == 0).all()}
    assert zeroed == {n for n, w in want.items() if (w == 0).all()}
    assert len(zeroed) == sum(isinstance(m, block_type) for m in ours.modules())
    assert all((w == 1).all() for n, w in got.items() if n not in zeroed)


def test_zero_init_last_norm_generic_blocks():
    block = nn.Sequential(
        nn.Linear(8, 8), nn.LayerNorm(8), nn.ReLU(),
        nn.Sequential(nn.Conv1d(8, 8, 1), nn.GroupNorm(2, 8)),
    )  # fmt: skip
    zeroed = zero_init_last_norm_(block)
    assert zeroed is block[3][1]
    assert (block[3][1].weight == 0).all() and (block[3][1].bias == 0).all()
    assert (block[1].weight == 1).all()  # only the last one

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.shortcut = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))

    res = Residual()
    assert zero_init_last_norm_(res) is res.bn
    assert (res.shortcut[1].weight == 1).all()
    assert zero_init_last_norm_(res, skip=()) is res.shortcut[1]


def test_zero_init_last_norm_bad_input():
    with pytest.raises(UserError, match="no BatchNorm"):
        zero_init_last_norm_(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(UserError, match="no weight"):
        zero_init_last_norm_(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2, affine=False)))
