"""Conventions a course student expects, checked against hand computations: the L2 penalty
(reg * sum W^2 by default, 0.5 * reg * sum W^2 with l2_half), batch-norm momentum (torch's,
course values refused or converted), kNN vote ties, and numpy arrays refused with the fix."""

import numpy as np
import pytest
import torch
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.scratch import FullyConnectedNet, TwoLayerNet
from scratchdl.models.scratch.knn import KNearestNeighbor
from scratchdl.models.scratch.linear import Softmax
from scratchdl.scratch import distances, knn
from scratchdl.scratch.gradcheck import numeric_gradient, rel_error
from scratchdl.scratch.layers import Affine, BatchNorm, ReLU, SpatialBatchNorm, softmax_loss
from scratchdl.scratch.linear import penalty, softmax_loss_vectorized, svm_loss_naive
from scratchdl.scratch.optim import SGD, DictOptimizer
from scratchdl.scratch.regularize import elastic_net_penalty

F64 = torch.float64


# ----------------------------------------------------------------------------- L2 penalty


def _two_layer(l2_half: bool, reg: float = 0.3) -> TwoLayerNet:
    net = TwoLayerNet(input_dim=2, hidden_dim=2, num_classes=2, reg=reg, dtype=F64,
                      l2_half=l2_half)  # fmt: skip
    net.params["W1"].copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))  # sum of squares 6
    net.params["W2"].copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))  # sum of squares 10
    return net


@pytest.mark.parametrize(("l2_half", "factor"), [(False, 1.0), (True, 0.5)])
def test_net_l2_penalty_by_hand(l2_half: bool, factor: float) -> None:
    """The same net with reg 0.3 and with reg 0: the losses differ by factor * 0.3 * (6 + 10),
    the W gradients by 2 * factor * 0.3 * W; biases are not penalized."""
    x, y = torch.tensor([[0.5, -1.0]], dtype=F64), torch.tensor([1])
    loss, grads = _two_layer(l2_half).loss(x, y)
    loss0, grads0 = _two_layer(l2_half, reg=0.0).loss(x, y)
    assert loss.item() - loss0.item() == pytest.approx(factor * 0.3 * 16, abs=1e-12)
    net = _two_layer(l2_half)
    for name in ("W1", "W2"):
        expected = grads0[name] + 2 * factor * 0.3 * net.params[name]
        torch.testing.assert_close(grads[name], expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(grads["b1"], grads0["b1"], atol=0, rtol=0)


@pytest.mark.parametrize("l2_half", [False, True])
def test_net_gradcheck_with_either_l2_convention(l2_half: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, generator=gen, dtype=F64)
    y = torch.randint(0, 3, (4,), generator=gen)
    net = FullyConnectedNet([5], input_dim=6, num_classes=3, reg=0.2, weight_scale=0.5,
                            dtype=F64, seed=3, l2_half=l2_half)  # fmt: skip
    for name, p in net.params.items():
        if name.startswith("b"):
            p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=F64))
    _, grads = net.loss(x, y)
    for name, p in net.params.items():
        numeric = numeric_gradient(lambda: net.loss(x, y)[0], p)
        assert rel_error(numeric, grads[name]) < 1e-6, name


@pytest.mark.parametrize(("l2_half", "factor"), [(False, 1.0), (True, 0.5)])
def test_linear_penalty_by_hand(l2_half: bool, factor: float) -> None:
    W = torch.tensor([[1.0, -2.0], [0.0, 3.0]], dtype=F64)  # sum W^2 = 14, sum |W| = 6
    value, grad = penalty(W, reg=0.1, l1_ratio=0.25, l2_half=l2_half)
    assert value.item() == pytest.approx(0.1 * (0.25 * 6 + factor * 0.75 * 14))
    expected = 0.1 * (0.25 * torch.sign(W) + 2 * factor * 0.75 * W)
    torch.testing.assert_close(grad, expected)
    X, y = torch.tensor([[1.0, 2.0], [-1.0, 0.5]], dtype=F64), torch.tensor([0, 1])
    for loss_fn in (svm_loss_naive, softmax_loss_vectorized):
        with_reg, dW = loss_fn(W, X, y, reg=0.1, l2_half=l2_half)
        without, dW0 = loss_fn(W, X, y, reg=0.0)
        assert (with_reg - without).item() == pytest.approx(factor * 0.1 * 14)
        torch.testing.assert_close(dW - dW0, 2 * factor * 0.1 * W)


def test_linear_classifier_train_passes_l2_half() -> None:
    """One SGD step from the same W: the weight moves by lr * dW, whose penalty part halves."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    steps = {}
    for half in (False, True):
        clf = Softmax(bias=False)
        clf.W = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        clf.train(x, y, lr=1.0, reg=0.5, num_iters=1, batch_size=2, l2_half=half, seed=0)
        steps[half] = clf.W.clone()
    # same data gradient (seeded draw of the batch), penalty gradient 2*0.5*W vs 0.5*W
    torch.testing.assert_close(steps[True] - steps[False], 0.5 * torch.tensor([[2.0, 0], [0, 2]]))


@pytest.mark.parametrize(("l2_half", "factor"), [(False, 1.0), (True, 0.5)])
def test_elastic_net_penalty_l2_half(l2_half: bool, factor: float) -> None:
    lin = nn.Linear(2, 1, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -2.0]]))  # sum w^2 = 5; bias skipped
    value = elastic_net_penalty(lin, reg=0.2, l2_half=l2_half)
    assert value.item() == pytest.approx(factor * 0.2 * 5)


# ----------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("layer, shape", [(BatchNorm, (2, 2)), (SpatialBatchNorm, (2, 2, 1, 1))])
def test_batchnorm_momentum_course_value_refused_or_converted(layer, shape) -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=F64).reshape(shape)
    gamma, beta = torch.ones(2, dtype=F64), torch.zeros(2, dtype=F64)

    def stats():
        return torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)

    with pytest.raises(UserError, match="course_momentum=True"):
        layer.forward(x, gamma, beta, *stats(), True, 0.9)
    mean, var = stats()
    layer.forward(x, gamma, beta, mean, var, True, 0.9, course_momentum=True)
    # batch mean (2, 4), unbiased variance (2, 8); weight 0.1 on the new batch
    torch.testing.assert_close(mean, torch.tensor([0.2, 0.4], dtype=F64))
    torch.testing.assert_close(var, torch.tensor([1.1, 1.7], dtype=F64))
    mean2, var2 = stats()
    layer.forward(x, gamma, beta, mean2, var2, True, 0.1)  # torch's convention, same result
    torch.testing.assert_close((mean2, var2), (mean, var))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        layer.forward(x, gamma, beta, *stats(), True, -0.1)


# ----------------------------------------------------------------------------- kNN ties


def test_knn_tie_rules_on_a_hand_built_tie() -> None:
    """Neighbours nearest first: labels 2, 0, 0, 2 (a 2-2 tie). nearest -> 2, smallest -> 0.
    A clear majority wins under either rule."""
    votes = torch.tensor([[2, 0, 0, 2], [3, 1, 1, 1], [1, 3, 3, 1]])
    assert knn.majority_vote(votes).tolist() == [2, 1, 1]
    assert knn.majority_vote(votes, tie="nearest").tolist() == [2, 1, 1]
    assert knn.majority_vote(votes, tie="smallest").tolist() == [0, 1, 1]
    with pytest.raises(UserError, match="nearest, smallest"):
        knn.majority_vote(votes, tie="random")


def test_knn_predict_tie_rule() -> None:
    """On a line: training points 0 (label 1), 1 (label 0), 10 (label 1). A query at 0.4 with
    k=2 sees labels 1 (nearest) and 0: a tie."""
    train = torch.tensor([[0.0], [1.0], [10.0]])
    labels = torch.tensor([1, 0, 1])
    query = torch.tensor([[0.4]])
    assert knn.knn_predict(query, train, labels, k=2).tolist() == [1]
    assert knn.knn_predict(query, train, labels, k=2, tie="smallest").tolist() == [0]
    clf = KNearestNeighbor().train(train, labels)
    assert clf.predict(query, k=2, tie="smallest").tolist() == [0]
    assert clf.predict(query, k=2).tolist() == [1]


# ----------------------------------------------------------------------------- numpy inputs


def _refuses_numpy(fn, *args, **kwargs) -> None:
    with pytest.raises(UserError, match=r"torch\.from_numpy"):
        fn(*args, **kwargs)


def test_numpy_arrays_get_the_from_numpy_fix() -> None:
    a = np.ones((2, 3))
    t = torch.ones(2, 3, dtype=F64)
    # layers, forward and backward
    _refuses_numpy(ReLU.forward, a)
    _, cache = ReLU.forward(t)
    _refuses_numpy(ReLU.backward, a, cache)
    _refuses_numpy(Affine.forward, a, torch.ones(3, 2, dtype=F64), None)
    _refuses_numpy(BatchNorm.forward, a, torch.ones(3), torch.zeros(3), None, None)
    # losses
    _refuses_numpy(softmax_loss, a, torch.tensor([0, 1]))
    _refuses_numpy(softmax_loss_vectorized, np.ones((3, 2)), t, torch.tensor([0, 1]))
    _refuses_numpy(Softmax().train, a, torch.tensor([0, 1]))
    net = TwoLayerNet(input_dim=3, hidden_dim=2, num_classes=2)
    _refuses_numpy(net.loss, a, torch.tensor([0, 1]))
    _refuses_numpy(net.loss, torch.ones(2, 3), np.array([0, 1]))
    # optimizers
    _refuses_numpy(SGD, [a], lr=0.1)
    _refuses_numpy(SGD, a, lr=0.1)
    opt = SGD([torch.zeros(2)], lr=0.1)
    _refuses_numpy(opt.apply_gradients, [np.ones(2)])
    _refuses_numpy(DictOptimizer, SGD, {"W": np.ones(2)}, lr=0.1)
    dopt = DictOptimizer(SGD, {"W": torch.zeros(2)}, lr=0.1)
    _refuses_numpy(dopt.step, {"W": np.ones(2)})
    # kNN
    _refuses_numpy(knn.knn_predict, a, t, torch.tensor([0, 1]))
    _refuses_numpy(KNearestNeighbor().train, a, torch.tensor([0, 1]))
    _refuses_numpy(knn.majority_vote, np.array([[0, 1]]))
    _refuses_numpy(distances.pairwise_distances, a, t)
