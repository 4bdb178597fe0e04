"""Hand-written convolution (naive and im2col), pooling and transposed convolution.

Each backward: numeric gradient check in float64 (max relative error < 1e-6) and equality
with autograd on nn.Conv2d / F.max_pool2d / F.avg_pool2d / nn.ConvTranspose2d with the same
weights (float64, atol 1e-10).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.scratch.gradcheck import backward_errors
from scratchdl.scratch.layers import AvgPool, Conv, ConvNaive, ConvTranspose, MaxPool

F64 = torch.float64
ATOL = 1e-10
GRAD_TOL = 1e-6


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up on a busy 2-core machine costs more than the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


# (x shape, out channels, kernel, stride, padding, groups, bias)
CONV_CASES = {
    "basic": ((2, 3, 5, 5), 4, (3, 3), 1, 0, 1, True),
    "stride2-pad1": ((2, 3, 7, 7), 4, (3, 3), 2, 1, 1, True),
    "non-square": ((2, 2, 7, 5), 3, (3, 2), (2, 1), (1, 2), 1, True),
    "uneven-stride": ((1, 2, 8, 6), 2, (2, 3), (3, 2), (0, 1), 1, False),
    "groups": ((2, 4, 5, 6), 6, (3, 3), 1, 1, 2, True),
    "batch-of-one-1x1": ((1, 3, 4, 3), 2, (1, 1), 1, 0, 1, True),
}


def conv_inputs(case):
    x_shape, f, (kh, kw), stride, padding, groups, bias = case
    x = randn(*x_shape)
    w = randn(f, x_shape[1] // groups, kh, kw, seed=1)
    b = randn(f, seed=2) if bias else None
    return x, w, b, dict(stride=stride, padding=padding, groups=groups)


@pytest.mark.parametrize("layer", [Conv, ConvNaive])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_matches_nn_conv2d(layer, case):
    x, w, b, kw = conv_inputs(case)
    twin = nn.Conv2d(x.shape[1], w.shape[0], w.shape[2:], bias=b is not None, **kw).double()
    with torch.no_grad():
        twin.weight.copy_(w)
        if b is not None:
            twin.bias.copy_(b)
    xt = x.clone().requires_grad_(True)
    ref = twin(xt)
    dout = randn(*ref.shape, seed=3)
    ref.backward(dout)
    out, cache = layer.forward(x, w, b, **kw)
    dx, dw, db = layer.backward(dout, cache)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(dw, twin.weight.grad)
    if b is None:
        assert db is None
    else:
        assert_close(db, twin.bias.grad)


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_im2col_gradcheck(case):
    x, w, b, kw = conv_inputs(case)
    out, cache = Conv.forward(x, w, b, **kw)
    dout = randn(*out.shape, seed=3)
    grads = [g for g in Conv.backward(dout, cache) if g is not None]
    inputs = [t for t in (x, w, b) if t is not None]
    errors = backward_errors(lambda: Conv.forward(x, w, b, **kw)[0], inputs, dout, grads)
    assert max(errors) < GRAD_TOL


def test_conv_naive_gradcheck():
    x, w, b, kw = conv_inputs(CONV_CASES["non-square"])
    x = x[:1]
    out, cache = ConvNaive.forward(x, w, b, **kw)
    dout = randn(*out.shape, seed=3)
    grads = ConvNaive.backward(dout, cache)
    errors = backward_errors(lambda: ConvNaive.forward(x, w, b, **kw)[0], [x, w, b], dout, grads)
    assert max(errors) < GRAD_TOL


def test_conv_float32_matches_conv2d():
    x, w, b = randn(2, 3, 9, 8).float(), randn(5, 3, 3, 3, seed=1).float(), randn(5).float()
    out, _ = Conv.forward(x, w, b, stride=2, padding=1)
    torch.testing.assert_close(out, F.conv2d(x, w, b, stride=2, padding=1), atol=1e-5, rtol=1e-5)


def test_conv_bad_input_says_expected_and_got():
    x, w = randn(2, 3, 5, 5), randn(4, 2, 3, 3)
    with pytest.raises(UserError, match=r"expected w.shape\[1\] == C // groups = 3"):
        Conv.forward(x, w, None)
    with pytest.raises(
        UserError, match=r"expected a 4-d tensor \(N, C, H, W\), got shape \(3, 5, 5\)"
    ):
        Conv.forward(x[0], randn(4, 3, 3, 3), None)
    with pytest.raises(UserError, match="larger than the padded input"):
        Conv.forward(x, randn(4, 3, 7, 7), None)
    with pytest.raises(UserError, match="bias of shape"):
        Conv.forward(x, randn(4, 3, 3, 3), randn(3))
    with pytest.raises(UserError, match="float32"):
        Conv.forward(x.float(), randn(4, 3, 3, 3), None)


# ---------------------------------------------------------------- pooling

# (x shape, kernel, stride, padding)
POOL_CASES = {
    "2x2": ((2, 3, 6, 6), 2, None, 0),
    "overlap-3s2": ((2, 2, 7, 7), 3, 2, 0),
    "non-square-pad": ((2, 2, 7, 5), (3, 2), (1, 2), (1, 1)),
    "odd-size-floor": ((1, 2, 5, 7), 2, 2, 0),
    "batch-of-one-stride3": ((1, 1, 9, 8), (2, 3), 3, (1, 0)),
}


@pytest.mark.parametrize("layer, twin", [(MaxPool, F.max_pool2d), (AvgPool, F.avg_pool2d)])
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_matches_torch(layer, twin, case):
    x_shape, kernel, stride, padding = case
    x = randn(*x_shape)
    xt = x.clone().requires_grad_(True)
    ref = twin(xt, kernel, stride, padding)
    dout = randn(*ref.shape, seed=1)
    ref.backward(dout)
    out, cache = layer.forward(x, kernel, stride, padding)
    assert_close(out, ref.detach())
    assert_close(layer.backward(dout, cache), xt.grad)


@pytest.mark.parametrize("layer", [MaxPool, AvgPool])
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_gradcheck(layer, case):
    x_shape, kernel, stride, padding = case
    x = randn(*x_shape)
    out, cache = layer.forward(x, kernel, stride, padding)
    dout = randn(*out.shape, seed=1)
    dx = layer.backward(dout, cache)
    forward = lambda: layer.forward(x, kernel, stride, padding)[0]  # noqa: E731
    (err,) = backward_errors(forward, [x], dout, [dx])
    assert err < GRAD_TOL


def test_pool_bad_input():
    with pytest.raises(UserError, match="padding <= kernel // 2"):
        MaxPool.forward(randn(1, 1, 4, 4), 2, 2, 2)
    with pytest.raises(UserError, match=r"\(N, C, H, W\)"):
        AvgPool.forward(randn(4, 4), 2)


# ---------------------------------------------------------------- transposed convolution

# (x shape, out channels, kernel, stride, padding, output_padding, groups, bias)
CONVT_CASES = {
    "basic": ((2, 3, 4, 4), 2, (3, 3), 1, 0, 0, 1, True),
    "stride2-pad1-outpad1": ((2, 3, 4, 5), 4, (3, 3), 2, 1, 1, 1, True),
    "non-square": ((1, 2, 3, 5), 3, (2, 4), (3, 2), (1, 0), (2, 1), 1, True),
    "groups-no-bias": ((2, 4, 3, 3), 6, (3, 3), 2, 0, 0, 2, False),
    "fcn-upsample": ((1, 2, 3, 3), 2, (4, 4), 2, 1, 0, 1, True),
}


def convt_inputs(case):
    x_shape, c_out, (kh, kw), stride, padding, output_padding, groups, bias = case
    x = randn(*x_shape)
    w = randn(x_shape[1], c_out // groups, kh, kw, seed=1)
    b = randn(c_out, seed=2) if bias else None
    return (
        x,
        w,
        b,
        dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups),
    )


@pytest.mark.parametrize("case", CONVT_CASES.values(), ids=CONVT_CASES.keys())
def test_conv_transpose_matches_nn_conv_transpose2d(case):
    x, w, b, kw = convt_inputs(case)
    c_out = w.shape[1] * kw["groups"]
    twin = nn.ConvTranspose2d(x.shape[1], c_out, w.shape[2:], bias=b is not None, **kw).double()
    with torch.no_grad():
        twin.weight.copy_(w)
        if b is not None:
            twin.bias.copy_(b)
    xt = x.clone().requires_grad_(True)
    ref = twin(xt)
    dout = randn(*ref.shape, seed=3)
    ref.backward(dout)
    out, cache = ConvTranspose.forward(x, w, b, **kw)
    dx, dw, db = ConvTranspose.backward(dout, cache)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(dw, twin.weight.grad)
    if b is None:
        assert db is None
    else:
        assert_close(db, twin.bias.grad)


@pytest.mark.parametrize("case", CONVT_CASES.values(), ids=CONVT_CASES.keys())
def test_conv_transpose_gradcheck(case):
    x, w, b, kw = convt_inputs(case)
    out, cache = ConvTranspose.forward(x, w, b, **kw)
    dout = randn(*out.shape, seed=3)
    grads = [g for g in ConvTranspose.backward(dout, cache) if g is not None]
    inputs = [t for t in (x, w, b) if t is not None]
    forward = lambda: ConvTranspose.forward(x, w, b, **kw)[0]  # noqa: E731
    assert max(backward_errors(forward, inputs, dout, grads)) < GRAD_TOL


def test_conv_transpose_bad_input():
    with pytest.raises(UserError, match="output_padding < stride"):
        ConvTranspose.forward(
            randn(1, 2, 3, 3), randn(2, 2, 3, 3), None, stride=2, output_padding=2
        )
    with pytest.raises(UserError, match=r"expected w.shape\[0\] == Cin = 2"):
        ConvTranspose.forward(randn(1, 2, 3, 3), randn(3, 2, 3, 3), None)


@pytest.mark.parametrize("buffer_bytes", [1, 700, 5000])
def test_conv_batch_split_into_several_column_chunks(monkeypatch, buffer_bytes):
    """A tiny column buffer forces many uneven chunks: results must not change."""
    from scratchdl.scratch.layers import conv as conv_module

    monkeypatch.setattr(conv_module, "COLUMN_BUFFER_BYTES", buffer_bytes)
    torch.manual_seed(0)
    x = torch.randn(7, 4, 9, 8, dtype=torch.float64, requires_grad=True)
    ref = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), groups=2).double()
    out, cache = Conv.forward(
        x.detach(), ref.weight.detach(), ref.bias.detach(), stride=(2, 1), padding=(1, 2), groups=2
    )
    expected = ref(x)
    dout = torch.randn_like(expected)
    expected.backward(dout)
    dx, dw, db = Conv.backward(dout, cache)
    torch.testing.assert_close(out, expected.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(dx, x.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(dw, ref.weight.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(db, ref.bias.grad, rtol=0, atol=1e-12)
