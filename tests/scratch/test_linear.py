"""Linear classifiers: naive == vectorized == torch losses, numeric gradient checks, training."""

import pytest
import torch
import torch.nn.functional as F

from scratchdl.errors import UserError
from scratchdl.models.scratch import linear as linear_models
from scratchdl.scratch import linear

LOSSES = {
    "svm": (linear.svm_loss_naive, linear.svm_loss_vectorized),
    "softmax": (linear.softmax_loss_naive, linear.softmax_loss_vectorized),
}
# (reg, l1_ratio): none, L2, L1, elastic net.
PENALTIES = [(0.0, 0.0), (0.1, 0.0), (0.05, 1.0), (0.07, 0.3)]


def _problem(n=9, d=6, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    # Keep |W| >= 0.1 so the L1 kink at 0 is far from the finite-difference step.
    W = torch.randn(d, c, generator=g, dtype=torch.float64)
    W = torch.sign(W) * (0.1 + W.abs())
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, c, (n,), generator=g)
    return W, X, y


def _hand_penalty(W, reg, l1_ratio):
    return reg * (l1_ratio * W.abs().sum() + (1 - l1_ratio) * (W**2).sum())


def _torch_loss(kind, W, X, y):
    scores = X @ W
    if kind == "svm":  # multi_margin_loss averages over classes too: undo that
        return F.multi_margin_loss(scores, y, p=1, margin=1.0) * W.shape[1]
    return F.cross_entropy(scores, y)


def _numeric_grad(f, W, h=1e-6):
    grad = torch.zeros_like(W)
    for idx in range(W.numel()):
        Wp, Wm = W.clone(), W.clone()
        Wp.view(-1)[idx] += h
        Wm.view(-1)[idx] -= h
        grad.view(-1)[idx] = (f(Wp) - f(Wm)) / (2 * h)
    return grad


def _rel_error(a, b):
    return ((a - b).abs() / (a.abs() + b.abs()).clamp(min=1e-12)).max().item()


@pytest.mark.parametrize("kind", ["svm", "softmax"])
@pytest.mark.parametrize("reg,l1_ratio", PENALTIES)
@pytest.mark.parametrize("n", [1, 9])  # batch of one included
def test_naive_vectorized_and_torch_agree(kind, reg, l1_ratio, n):
    W, X, y = _problem(n=n)
    naive, vectorized = LOSSES[kind]
    loss_n, dW_n = naive(W, X, y, reg, l1_ratio)
    loss_v, dW_v = vectorized(W, X, y, reg, l1_ratio)
    # Tolerance: float64 round-off only (1e-12).
    torch.testing.assert_close(loss_n, loss_v, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dW_n, dW_v, rtol=1e-12, atol=1e-12)
    expected = _torch_loss(kind, W, X, y) + _hand_penalty(W, reg, l1_ratio)
    torch.testing.assert_close(loss_v, expected, rtol=1e-12, atol=1e-12)
    # The analytic gradient also equals autograd on the torch twin.
    Wg = W.clone().requires_grad_(True)
    (_torch_loss(kind, Wg, X, y) + _hand_penalty(Wg, reg, l1_ratio)).backward()
    torch.testing.assert_close(dW_v, Wg.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["svm", "softmax"])
@pytest.mark.parametrize("reg,l1_ratio", PENALTIES)
@pytest.mark.parametrize("n", [1, 7])
def test_numeric_gradient_check(kind, reg, l1_ratio, n):
    W, X, y = _problem(n=n, d=5, c=3, seed=1)
    for fn in LOSSES[kind]:
        _, dW = fn(W, X, y, reg, l1_ratio)
        numeric = _numeric_grad(lambda w, fn=fn: fn(w, X, y, reg, l1_ratio)[0], W)
        assert _rel_error(dW, numeric) < 1e-6


def test_bias_trick_matches_separate_bias():
    W, X, y = _problem(n=5, d=4, c=3, seed=2)
    b = torch.randn(3, dtype=torch.float64)
    Wb = torch.cat([W, b[None]], dim=0)
    loss, _ = linear.softmax_loss_vectorized(Wb, linear.add_bias_column(X), y)
    torch.testing.assert_close(loss, F.cross_entropy(X @ W + b, y), rtol=1e-12, atol=1e-12)


def test_softmax_is_stable_for_huge_scores():
    W, X, y = _problem(n=4, seed=3)
    loss, dW = linear.softmax_loss_vectorized(W * 1e4, X, y)
    torch.testing.assert_close(loss, F.cross_entropy(X @ (W * 1e4), y), rtol=1e-10, atol=1e-8)
    assert torch.isfinite(dW).all()


def _digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def test_softmax_classifier_learns_digits():
    x_tr, y_tr, x_te, y_te = _digits()
    clf = linear_models.Softmax()
    history = clf.train(x_tr, y_tr, lr=1.0, reg=1e-4, epochs=10, batch_size=100, seed=0)
    accuracy = (clf.predict(x_te) == y_te).float().mean().item()
    assert history[-1] < history[0] / 5
    assert accuracy > 0.9


def test_svm_classifier_learns_digits_with_elastic_net():
    x_tr, y_tr, x_te, y_te = _digits()
    clf = linear_models.LinearSVM()
    clf.train(x_tr, y_tr, lr=0.05, reg=1e-4, l1_ratio=0.5, num_iters=200, batch_size=100)
    assert (clf.predict(x_te) == y_te).float().mean().item() > 0.9


def test_training_is_reproducible_by_seed():
    x_tr, y_tr, _, _ = _digits()
    a, b = linear_models.Softmax(), linear_models.Softmax()
    a.train(x_tr[:200], y_tr[:200], num_iters=20, batch_size=32, seed=5)
    b.train(x_tr[:200], y_tr[:200], num_iters=20, batch_size=32, seed=5)
    assert torch.equal(a.W, b.W)


def test_bad_input_is_a_user_error():
    W, X, y = _problem()
    with pytest.raises(UserError, match=r"W of shape \(D, C\).*got \(6, 4\) and \(9, 6, 1\)"):
        linear.svm_loss_vectorized(W, X[..., None], y)
    with pytest.raises(UserError, match="X has 7 features but W expects D=6"):
        linear.softmax_loss_vectorized(W, linear.add_bias_column(X), y)
    with pytest.raises(UserError, match=r"labels of shape \(9,\), got \(8,\)"):
        linear.softmax_loss_naive(W, X, y[:8])
    with pytest.raises(UserError, match=r"labels must be in \[0, C=4\)"):
        linear.svm_loss_naive(W, X, y + 4)
    with pytest.raises(UserError, match="integer class labels"):
        linear.svm_loss_vectorized(W, X, y.double())
    with pytest.raises(UserError, match="share dtype"):
        linear.svm_loss_vectorized(W.float(), X, y)
    with pytest.raises(UserError, match="l1_ratio must be in"):
        linear.svm_loss_vectorized(W, X, y, reg=0.1, l1_ratio=1.5)
    with pytest.raises(UserError, match="reg must be >= 0"):
        linear.svm_loss_vectorized(W, X, y, reg=-1.0)
    with pytest.raises(UserError, match="learning rate must be positive, got -0.1"):
        linear_models.Softmax().train(X, y, lr=-0.1)
    with pytest.raises(UserError, match="before train"):
        linear_models.LinearSVM().predict(X)
