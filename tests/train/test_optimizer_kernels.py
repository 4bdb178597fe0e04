"""optimizer.kernel: the fused/foreach/loop flags given to torch.optim, and that they agree."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.recipes.defaults import DEFAULTS
from scratchdl.train.optim import build_optimizer


def _cfg(name: str, kernel: str) -> dict:
    cfg = copy.deepcopy(DEFAULTS["optimizer"])
    cfg.update(name=name, kernel=kernel, lr=0.01, momentum=0.9)
    return cfg


@pytest.mark.parametrize(
    "name, kernel, fused, foreach",
    [
        ("adam", "auto", True, None),
        ("adamw", "auto", True, None),
        ("sgd", "auto", True, None),
        ("rmsprop", "auto", None, True),  # torch has no fused RMSprop: foreach
        ("adam", "foreach", None, True),
        ("adam", "loop", None, False),
    ],
)
def test_kernel_flags_reach_torch_optim(name: str, kernel: str, fused, foreach) -> None:
    opt = build_optimizer(nn.Linear(3, 2), _cfg(name, kernel))
    assert opt.defaults.get("fused") == fused
    assert opt.defaults.get("foreach") == foreach


def test_fused_where_torch_has_none_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="no fused rmsprop.*use auto or foreach"):
        build_optimizer(nn.Linear(3, 2), _cfg("rmsprop", "fused"))
    with pytest.raises(UserError, match="optimizer.kernel must be one of"):
        build_optimizer(nn.Linear(3, 2), _cfg("adam", "fast"))


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_fused_and_loop_kernels_take_the_same_steps(name: str) -> None:
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    x, y = torch.randn(16, 5), torch.randn(16, 3)
    params = {}
    for kernel in ("fused", "loop"):
        model = copy.deepcopy(base)
        opt = build_optimizer(model, _cfg(name, kernel))
        for _ in range(20):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        params[kernel] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert not torch.equal(params["fused"], torch.cat([p.flatten() for p in base.parameters()]))
    torch.testing.assert_close(params["fused"], params["loop"], rtol=1e-5, atol=1e-6)
