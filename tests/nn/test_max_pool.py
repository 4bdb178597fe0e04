"""scratchdl.nn.MaxPool2x2 against its twin nn.MaxPool2d(2, 2): same outputs and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.models import build_model
from scratchdl.nn import MaxPool2x2, max_pool
from scratchdl.nn.max_pool import (
    compiled_max_pool2x2,
    max_pool2x2_backward,
    max_pool2x2_forward,
)


def _pair(shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool, ties: bool):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=dtype)
    if ties:  # plateaus, as a convolution gives over a blank background
        x[:, :, : shape[2] // 2] = 0.5
        x[:, :, -2:, :2] = x[:, :, -2:, :2].round()  # ties between some corners only
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x.clone().requires_grad_(), x.clone().requires_grad_()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("shape", [(4, 6, 28, 28), (3, 16, 10, 10), (2, 3, 7, 9), (1, 1, 2, 2)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_equals_torch_max_pool_with_gradients(
    shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool, ties: bool, relu: bool
) -> None:
    ours_x, twin_x = _pair(shape, dtype, channels_last, ties)
    ours, twin = compiled_max_pool2x2(ours_x, relu), nn.MaxPool2d(2, 2)(twin_x)
    if relu:  # twin: nn.ReLU after the pooling (ties' windows of exact 0 included)
        twin = F.relu(twin)
    assert torch.equal(ours, twin)
    grad = torch.randn_like(twin)
    ours.backward(grad)
    twin.backward(grad)
    # exactly: each window's gradient goes to the same (first) maximum, none is split
    assert torch.equal(ours_x.grad, twin_x.grad)
    if channels_last and min(shape[2:]) > 2:  # a convolution's input gradient, no copy
        assert ours_x.grad.is_contiguous(memory_format=torch.channels_last)


def test_atens_kernel_where_it_is_vectorized(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(max_pool, "compiled_max_pool2x2", lambda x, relu: calls.append(x) or x)
    x16 = torch.randn(2, 16, 8, 8)
    MaxPool2x2()(x16.contiguous(memory_format=torch.channels_last))  # ATen
    MaxPool2x2(compiled=False)(x16)  # ATen
    assert calls == []
    MaxPool2x2()(x16)  # NCHW: ours
    MaxPool2x2()(torch.randn(2, 6, 8, 8).contiguous(memory_format=torch.channels_last))  # ours
    assert len(calls) == 2


def test_ties_go_to_the_first_corner_in_raster_order() -> None:
    # window 0: all equal -> (0,0); window 1: (0,1) and (1,0) tie -> (0,1)
    x = torch.tensor([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 1.0]]]])
    y = max_pool2x2_forward(x)
    assert y.tolist() == [[[[1.0, 2.0]]]]
    g = max_pool2x2_backward(x, y, torch.tensor([[[[3.0, 5.0]]]]))
    assert g.tolist() == [[[[3.0, 0.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]]]]


def test_no_grad_and_eval_give_the_twin_output() -> None:
    x = torch.randn(5, 6, 12, 12).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(MaxPool2x2()(x), F.max_pool2d(x, 2, 2))
        assert torch.equal(MaxPool2x2(relu=True)(x), F.relu(F.max_pool2d(x, 2, 2)))
    assert torch.equal(MaxPool2x2(compiled=False)(x), F.max_pool2d(x, 2, 2))
    x16 = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)  # ATen's
    for compiled in (True, False):
        assert torch.equal(MaxPool2x2(compiled, relu=True)(x16), F.relu(F.max_pool2d(x16, 2, 2)))


def test_relu_gives_nothing_to_a_window_whose_maximum_is_zero_or_nan() -> None:
    x = torch.tensor([[[[0.0, -1.0, float("nan"), 1.0], [-2.0, 0.0, 3.0, 0.5]]]],
                     requires_grad=True)
    y = compiled_max_pool2x2(x, relu=True)
    assert y[0, 0, 0, 0] == 0 and y[0, 0, 0, 1].isnan()
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, torch.zeros_like(x))  # as relu's backward: grad where y > 0


def test_without_a_compiler_it_runs_the_same_loops_eagerly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(max_pool, "_compiled", {"forward": no_compiler})
    monkeypatch.setattr(max_pool, "_compile_failed", False)
    ours_x, twin_x = _pair((3, 6, 8, 8), torch.float32, True, True)
    ours, twin = max_pool.max_pool2x2(ours_x), F.max_pool2d(twin_x, 2, 2)
    assert max_pool._compile_failed
    assert "compiled max pooling unavailable" in caplog.text
    ours.sum().backward()
    twin.sum().backward()
    assert torch.equal(ours, twin) and torch.equal(ours_x.grad, twin_x.grad)


def test_a_second_derivative_is_refused_not_wrong() -> None:
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    (g,) = torch.autograd.grad(compiled_max_pool2x2(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_too_small_input_fails_as_torch_does() -> None:
    with pytest.raises(RuntimeError):
        MaxPool2x2()(torch.randn(1, 1, 1, 5))


def test_lenet_with_compiled_pool_is_the_same_network() -> None:
    kwargs = dict(in_channels=1, num_classes=10, image_size=(28, 28))
    torch.manual_seed(0)
    plain = build_model("lenet", **kwargs)
    torch.manual_seed(0)
    fast = build_model("lenet", **kwargs, compiled_pool=True)
    pools = [m for m in fast.modules() if isinstance(m, MaxPool2x2)]
    assert len(pools) == 2 and all(p.relu for p in pools)  # ReLU fused into both
    assert plain.state_dict().keys() == fast.state_dict().keys()  # checkpoints interchange
    x = torch.randn(8, 1, 28, 28)
    plain(x).square().sum().backward()
    fast(x).square().sum().backward()
    for p, q in zip(plain.parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6)


def test_the_loops_are_compiled_on_the_cpu() -> None:
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    ours_x, twin_x = _pair((4, 6, 14, 14), torch.float32, True, True)
    ours = MaxPool2x2()(ours_x)
    ours.sum().backward()
    assert counters["stats"]["unique_graphs"] == 2  # the forward and the backward loop
    twin = F.max_pool2d(twin_x, 2, 2)
    twin.sum().backward()
    assert torch.equal(ours, twin) and torch.equal(ours_x.grad, twin_x.grad)
    # another batch size reuses them (the batch dimension is dynamic)
    MaxPool2x2()(torch.randn(9, 6, 14, 14, requires_grad=True).contiguous(
        memory_format=torch.channels_last)).sum().backward()
    assert counters["stats"]["unique_graphs"] == 2
