"""Hand-written element-wise, affine, dropout, norm and loss layers.

Each backward: numeric gradient check in float64 (max relative error < 1e-6) and equality
with autograd on the torch twin with the same weights (float64, atol 1e-10).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.scratch.gradcheck import backward_errors, numeric_gradient, rel_error
from scratchdl.scratch.layers import (
    ELU,
    SELU,
    Affine,
    BatchNorm,
    Dropout,
    LayerNorm,
    LeakyReLU,
    MulticlassSVM,
    PReLU,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    SpatialBatchNorm,
    Tanh,
    softmax_loss,
    svm_loss,
)

F64 = torch.float64
ATOL = 1e-10  # twin equality in float64
GRAD_TOL = 1e-6  # max relative error of a numeric gradient check


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up on a busy 2-core machine costs more than the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.clone().requires_grad_(True)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


# ---------------------------------------------------------------- element-wise activations

ACTIVATIONS = [
    (ReLU, (), F.relu),
    (LeakyReLU, (0.2,), lambda x: F.leaky_relu(x, 0.2)),
    (ELU, (0.7,), lambda x: F.elu(x, 0.7)),
    (SELU, (), F.selu),
    (Sigmoid, (), torch.sigmoid),
    (Tanh, (), torch.tanh),
]


@pytest.mark.parametrize("layer, args, twin", ACTIVATIONS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(4, 5), (1, 3), (2, 3, 4, 5)])
def test_activation_matches_autograd(layer, args, twin, shape):
    x = randn(*shape)
    x[0, 0] = 0.0  # the kink: both sides must pick the same subgradient
    dout = randn(*shape, seed=1)
    out, cache = layer.forward(x, *args)
    dx = layer.backward(dout, cache)
    xt = leaf(x)
    ref = twin(xt)
    ref.backward(dout)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)


@pytest.mark.parametrize("layer, args, twin", ACTIVATIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_activation_gradcheck(layer, args, twin):
    x, dout = randn(3, 4), randn(3, 4, seed=1)
    _, cache = layer.forward(x, *args)
    dx = layer.backward(dout, cache)
    (err,) = backward_errors(lambda: layer.forward(x, *args)[0], [x], dout, [dx])
    assert err < GRAD_TOL


@pytest.mark.parametrize("layer", [Sigmoid, Tanh, ELU, SELU])
def test_activation_extreme_inputs_stay_finite(layer):
    x = torch.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=F64)
    out, cache = layer.forward(x)
    dx = layer.backward(torch.ones_like(x), cache)
    assert torch.isfinite(out).all() and torch.isfinite(dx).all()


@pytest.mark.parametrize("num_parameters", [1, 3])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5), (1, 3, 2)])
def test_prelu_matches_nn_prelu(num_parameters, shape):
    twin = nn.PReLU(num_parameters).double()
    with torch.no_grad():
        twin.weight.copy_(randn(num_parameters, seed=2).abs() * 0.3)
    x, dout = randn(*shape), randn(*shape, seed=1)
    a = twin.weight.detach().clone()
    out, cache = PReLU.forward(x, a)
    dx, da = PReLU.backward(dout, cache)
    xt = leaf(x)
    ref = twin(xt)
    ref.backward(dout)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(da, twin.weight.grad)


@pytest.mark.parametrize("num_parameters", [1, 3])
def test_prelu_gradcheck(num_parameters):
    x, dout, a = randn(2, 3, 4), randn(2, 3, 4, seed=1), randn(num_parameters, seed=2)
    _, cache = PReLU.forward(x, a)
    grads = PReLU.backward(dout, cache)
    errors = backward_errors(lambda: PReLU.forward(x, a)[0], [x, a], dout, grads)
    assert max(errors) < GRAD_TOL


def test_prelu_rejects_wrong_slope_shape():
    with pytest.raises(UserError, match="expected slope"):
        PReLU.forward(randn(2, 3), randn(4))


# ---------------------------------------------------------------- affine


@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 3), (1, 6), (2, 1, 2, 3)])
def test_affine_matches_nn_linear(shape):
    torch.manual_seed(0)
    linear = nn.Linear(6, 5).double()
    x = randn(*shape)
    dout = randn(shape[0], 5, seed=1)
    w, b = linear.weight.detach().t().contiguous(), linear.bias.detach().clone()
    out, cache = Affine.forward(x, w, b)
    dx, dw, db = Affine.backward(dout, cache)
    xt = leaf(x)
    ref = linear(xt.reshape(shape[0], -1))
    ref.backward(dout)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(dw, linear.weight.grad.t())
    assert_close(db, linear.bias.grad)


def test_affine_gradcheck():
    x, w, b, dout = randn(3, 2, 2), randn(4, 5, seed=1), randn(5, seed=2), randn(3, 5, seed=3)
    _, cache = Affine.forward(x, w, b)
    grads = Affine.backward(dout, cache)
    errors = backward_errors(lambda: Affine.forward(x, w, b)[0], [x, w, b], dout, grads)
    assert max(errors) < GRAD_TOL


def test_affine_bad_shapes_say_expected_and_got():
    with pytest.raises(UserError, match="expects 5"):
        Affine.forward(randn(2, 4), randn(5, 3), randn(3))
    with pytest.raises(UserError, match="float32"):
        Affine.forward(randn(2, 5).float(), randn(5, 3), randn(3))


# ---------------------------------------------------------------- dropout


def test_dropout_eval_and_p0_are_identity():
    x = randn(4, 5)
    for out, cache in [Dropout.forward(x, 0.5, training=False), Dropout.forward(x, 0.0)]:
        assert torch.equal(out, x)
        assert torch.equal(Dropout.backward(x, cache), x)


def test_dropout_train_keeps_mean_and_drops_p():
    x = torch.ones(200_000, dtype=F64)
    out, _ = Dropout.forward(x, 0.3, generator=torch.Generator().manual_seed(0))
    assert abs(out.mean().item() - 1.0) < 0.01  # inverted scaling preserves the mean
    assert abs((out == 0).double().mean().item() - 0.3) < 0.005
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))


def test_dropout_seeded_mask_repeats_and_backward_uses_it():
    x, dout = randn(6, 7), randn(6, 7, seed=1)

    def forward():
        return Dropout.forward(x, 0.4, generator=torch.Generator().manual_seed(5))

    (out1, cache), (out2, _) = forward(), forward()
    assert torch.equal(out1, out2)
    dx = Dropout.backward(dout, cache)
    assert torch.equal(dx == 0, out1 == 0)
    (err,) = backward_errors(lambda: forward()[0], [x], dout, [dx])
    assert err < GRAD_TOL


def test_dropout_p1_zeroes_and_bad_p_raises():
    out, cache = Dropout.forward(randn(3, 3), 1.0)
    assert torch.equal(out, torch.zeros(3, 3, dtype=F64))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        Dropout.forward(randn(3, 3), 1.5)


# ---------------------------------------------------------------- batch norm


def _bn_params(c: int) -> tuple[torch.Tensor, torch.Tensor]:
    return 1 + 0.1 * randn(c, seed=7), 0.1 * randn(c, seed=8)


@pytest.mark.parametrize(
    "layer, twin_cls, shape",
    [
        (BatchNorm, nn.BatchNorm1d, (5, 4)),
        (BatchNorm, nn.BatchNorm1d, (3, 4, 6)),
        (SpatialBatchNorm, nn.BatchNorm2d, (3, 4, 5, 6)),
        (SpatialBatchNorm, nn.BatchNorm2d, (1, 4, 3, 2)),  # batch of one is fine for images
    ],
)
def test_batchnorm_matches_torch_train_then_eval(layer, twin_cls, shape):
    c, momentum = shape[1], 0.2
    twin = twin_cls(c, momentum=momentum).double()
    gamma, beta = _bn_params(c)
    with torch.no_grad():
        twin.weight.copy_(gamma)
        twin.bias.copy_(beta)
    running_mean, running_var = torch.zeros(c, dtype=F64), torch.ones(c, dtype=F64)
    for step, training in enumerate([True, True, True, False, False]):
        twin.train(training)
        twin.zero_grad()
        x, dout = 3 + 2 * randn(*shape, seed=step), randn(*shape, seed=100 + step)
        out, cache = layer.forward(x, gamma, beta, running_mean, running_var, training, momentum)
        dx, dgamma, dbeta = layer.backward(dout, cache)
        xt = leaf(x)
        ref = twin(xt)
        ref.backward(dout)
        assert_close(out, ref.detach())
        assert_close(dx, xt.grad)
        assert_close(dgamma, twin.weight.grad)
        assert_close(dbeta, twin.bias.grad)
        assert_close(running_mean, twin.running_mean)  # unbiased running var, like torch
        assert_close(running_var, twin.running_var)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layer, shape", [(BatchNorm, (4, 3)), (SpatialBatchNorm, (2, 3, 2, 3))])
def test_batchnorm_gradcheck(layer, shape, training):
    c = shape[1]
    x, dout = 1 + randn(*shape), randn(*shape, seed=1)
    gamma, beta = _bn_params(c)
    # In eval mode the (fixed) running statistics are used; in train mode none are tracked so
    # the numeric nudges cannot change them.
    stats = (0.5 * randn(c, seed=3), 0.5 + randn(c, seed=4).abs()) if not training else (None, None)

    def forward():
        return layer.forward(x, gamma, beta, *stats, training)[0]

    _, cache = layer.forward(x, gamma, beta, *stats, training)
    grads = layer.backward(dout, cache)
    assert max(backward_errors(forward, [x, gamma, beta], dout, grads)) < GRAD_TOL


def test_batchnorm_eval_differs_from_train_and_batch_of_one_needs_eval():
    x = 2 + randn(6, 3)
    gamma, beta = torch.ones(3, dtype=F64), torch.zeros(3, dtype=F64)
    mean, var = torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)
    train_out, _ = BatchNorm.forward(x, gamma, beta, mean, var, training=True)
    eval_out, _ = BatchNorm.forward(x, gamma, beta, mean, var, training=False)
    assert not torch.allclose(train_out, eval_out)
    assert torch.allclose(train_out.mean(0), torch.zeros(3, dtype=F64), atol=1e-12)
    with pytest.raises(UserError, match="more than one value per channel"):
        BatchNorm.forward(x[:1], gamma, beta, mean, var, training=True)
    one, _ = BatchNorm.forward(x[:1], gamma, beta, mean, var, training=False)
    assert_close(one, eval_out[:1])


# ---------------------------------------------------------------- layer norm


@pytest.mark.parametrize(
    "shape, normalized", [((4, 6), (6,)), ((1, 5), (5,)), ((2, 3, 4, 2), (3, 4, 2))]
)
def test_layernorm_matches_nn_layernorm(shape, normalized):
    twin = nn.LayerNorm(normalized).double()
    with torch.no_grad():
        twin.weight.copy_(1 + 0.1 * randn(*normalized, seed=2))
        twin.bias.copy_(0.1 * randn(*normalized, seed=3))
    gamma, beta = twin.weight.detach().clone(), twin.bias.detach().clone()
    x, dout = 1 + 2 * randn(*shape), randn(*shape, seed=1)
    out, cache = LayerNorm.forward(x, gamma, beta)
    dx, dgamma, dbeta = LayerNorm.backward(dout, cache)
    xt = leaf(x)
    ref = twin(xt)
    ref.backward(dout)
    assert_close(out, ref.detach())
    assert_close(dx, xt.grad)
    assert_close(dgamma, twin.weight.grad)
    assert_close(dbeta, twin.bias.grad)


def test_layernorm_gradcheck():
    x, dout = randn(3, 5), randn(3, 5, seed=1)
    gamma, beta = 1 + 0.1 * randn(5, seed=2), 0.1 * randn(5, seed=3)
    _, cache = LayerNorm.forward(x, gamma, beta)
    grads = LayerNorm.backward(dout, cache)
    forward = lambda: LayerNorm.forward(x, gamma, beta)[0]  # noqa: E731
    assert max(backward_errors(forward, [x, gamma, beta], dout, grads)) < GRAD_TOL


def test_layernorm_rejects_mismatched_gamma():
    with pytest.raises(UserError, match="expected x"):
        LayerNorm.forward(randn(3, 5), torch.ones(4, dtype=F64), torch.zeros(4, dtype=F64))


# ---------------------------------------------------------------- losses


@pytest.mark.parametrize("n", [1, 6])
def test_softmax_loss_matches_cross_entropy(n):
    scores, y = (
        3 * randn(n, 5),
        torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(0)),
    )
    loss, dscores = softmax_loss(scores, y)
    st = leaf(scores)
    ref = F.cross_entropy(st, y)
    ref.backward()
    assert_close(loss, ref.detach())
    assert_close(dscores, st.grad)


@pytest.mark.parametrize("n, margin", [(1, 1.0), (6, 1.0), (6, 0.5)])
def test_svm_loss_matches_multi_margin_loss_times_classes(n, margin):
    c = 5
    scores, y = randn(n, c), torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(1))
    loss, dscores = svm_loss(scores, y, margin)
    st = leaf(scores)
    ref = c * F.multi_margin_loss(st, y, margin=margin)  # torch also divides by C
    ref.backward()
    assert_close(loss, ref.detach())
    assert_close(dscores, st.grad)


@pytest.mark.parametrize("layer", [SoftmaxCrossEntropy, MulticlassSVM])
def test_loss_layer_gradcheck_and_upstream_scale(layer):
    scores, y = randn(4, 3), torch.tensor([0, 2, 1, 2])
    _, cache = layer.forward(scores, y)
    dscores = layer.backward(1.0, cache)
    numeric = numeric_gradient(lambda: layer.forward(scores, y)[0], scores)
    assert rel_error(numeric, dscores) < GRAD_TOL
    assert_close(layer.backward(2.5, cache), 2.5 * dscores)


def test_softmax_loss_is_stable_for_huge_scores():
    scores = torch.tensor([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]], dtype=F64)
    loss, dscores = softmax_loss(scores, torch.tensor([0, 1]))
    assert torch.isfinite(loss) and torch.isfinite(dscores).all()
    assert_close(loss, F.cross_entropy(scores, torch.tensor([0, 1])))


@pytest.mark.parametrize("fn", [softmax_loss, svm_loss])
def test_losses_reject_bad_labels(fn):
    with pytest.raises(UserError, match=r"labels must be in \[0, 3\)"):
        fn(randn(2, 3), torch.tensor([0, 3]))
    with pytest.raises(UserError, match="expected scores"):
        fn(randn(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(UserError, match="integer class labels"):
        fn(randn(2, 3), torch.tensor([0.0, 1.0]))
