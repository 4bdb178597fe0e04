"""Nets built from the hand-written layers: numeric gradient check of the full loss (float64,
max relative error < 1e-6), equality with the same net written in torch.nn (float64,
atol 1e-10), overfitting a small batch of digits, modes, dtypes and bad input."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scratchdl.errors import UserError
from scratchdl.models.scratch import ConvNet, FullyConnectedNet, TwoLayerNet
from scratchdl.scratch.gradcheck import numeric_gradient, rel_error

F64 = torch.float64
GRAD_TOL = 1e-6
ATOL = 1e-10


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread start-up on a busy 2-core machine costs more than the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def labels(n: int, classes: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed))


def max_grad_error(net, x, y, reseed: int | None = None) -> float:
    """Worst rel_error over all params between net.loss's grads and central differences.

    Biases are first set to small random values: with zero biases, a unit whose inputs are
    all zero (dropped out, or fed by dead ReLUs) sits exactly on the ReLU kink, where a
    central difference averages the two one-sided slopes.
    """
    gen = torch.Generator().manual_seed(99)
    for name, p in net.params.items():
        if name.startswith(("b", "beta")):
            p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))

    def loss():
        if reseed is not None:  # the same dropout mask on every call
            net.generator.manual_seed(reseed)
        return net.loss(x, y)[0]

    if reseed is not None:
        net.generator.manual_seed(reseed)
    _, grads = net.loss(x, y)
    assert grads.keys() == net.params.keys()
    return max(rel_error(numeric_gradient(loss, p), grads[name]) for name, p in net.params.items())


def test_two_layer_net_gradcheck():
    net = TwoLayerNet(
        input_dim=5, hidden_dim=6, num_classes=4, weight_scale=0.5, reg=0.1, dtype=F64
    )
    assert max_grad_error(net, randn(3, 5), labels(3, 4)) < GRAD_TOL


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fully_connected_net_gradcheck(normalization, dropout):
    net = FullyConnectedNet(
        [5, 4], input_dim=6, num_classes=3, dropout=dropout, normalization=normalization,
        reg=0.05, weight_scale=0.5, dtype=F64, seed=1,
    )  # fmt: skip
    assert max_grad_error(net, randn(4, 6), labels(4, 3), reseed=7) < GRAD_TOL


@pytest.mark.parametrize("batchnorm", [True, False])
def test_convnet_gradcheck(batchnorm):
    net = ConvNet(
        (2, 6, 5), conv_channels=(3, 2), kernel_size=3, hidden_dims=(4,), num_classes=3,
        batchnorm=batchnorm, reg=0.05, dtype=F64, seed=2,
    )  # fmt: skip
    assert max_grad_error(net, randn(3, 2, 6, 5), labels(3, 3)) < GRAD_TOL


def _check_against_twin(net, twin: nn.Module, x, y, weights: list[str]) -> None:
    """Loss and every gradient of `net` equal autograd through `twin` (+ the same L2)."""
    twin.train(net.training)
    loss, grads = net.loss(x, y)
    twin_params = dict(zip(net.params.keys(), twin.parameters(), strict=True))
    twin_loss = F.cross_entropy(twin(x), y)
    scale = (0.5 if net.l2_half else 1.0) * net.reg  # reg * sum(W^2) unless l2_half
    twin_loss = twin_loss + scale * sum((twin_params[w] ** 2).sum() for w in weights)
    twin_loss.backward()
    torch.testing.assert_close(loss, twin_loss.detach(), atol=ATOL, rtol=0)
    for name, p in twin_params.items():
        # Affine weights are stored (in, out); nn.Linear stores (out, in).
        grad = p.grad.t() if p.dim() == 2 else p.grad
        torch.testing.assert_close(grads[name], grad, atol=ATOL, rtol=0, msg=name)


def _copy_into(twin: nn.Module, net) -> None:
    with torch.no_grad():
        for p, ours in zip(twin.parameters(), net.params.values(), strict=True):
            p.copy_(ours.t() if ours.dim() == 2 else ours)


def test_fully_connected_batchnorm_net_matches_torch_nn():
    net = FullyConnectedNet([7], input_dim=6, num_classes=4, normalization="batchnorm",
                            reg=0.1, weight_scale=0.3, dtype=F64)  # fmt: skip
    # Parameter order of the twin matches the net's dict: W1 gamma1 beta1 W2 b2.
    twin = nn.Sequential(
        nn.Linear(6, 7, bias=False), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 4)
    ).double()
    _copy_into(twin, net)
    for step in range(3):
        twin.zero_grad()
        _check_against_twin(net, twin, randn(5, 6, seed=step), labels(5, 4, step), ["W1", "W2"])
    torch.testing.assert_close(net.buffers["running_var1"], twin[1].running_var, atol=ATOL, rtol=0)
    net.eval()
    twin.zero_grad()
    _check_against_twin(net, twin, randn(2, 6, seed=9), labels(2, 4, 9), ["W1", "W2"])


def test_convnet_matches_torch_nn():
    net = ConvNet((1, 8, 6), conv_channels=(3,), kernel_size=3, hidden_dims=(5,), num_classes=4,
                  reg=0.01, dtype=F64)  # fmt: skip
    twin = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3 * 4 * 3, 5), nn.ReLU(), nn.Linear(5, 4),
    ).double()  # fmt: skip
    _copy_into(twin, net)
    _check_against_twin(net, twin, randn(4, 1, 8, 6), labels(4, 4), ["W1", "W2", "W3"])


def test_two_layer_net_overfits_small_batch_of_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data[:50] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[:50])
    net = TwoLayerNet(input_dim=64, hidden_dim=100, num_classes=10, weight_scale=0.1, seed=0)
    first = None
    for _ in range(300):  # plain SGD, written out
        loss, grads = net.loss(x, y)
        first = loss.item() if first is None else first
        for name, p in net.params.items():
            p -= 0.5 * grads[name]
    assert first > 2.0  # starts near log(10)
    assert net.loss(x, y)[0].item() < 0.02
    assert (net.loss(x).argmax(1) == y).all()


def test_train_and_eval_modes():
    net = FullyConnectedNet(
        [20], input_dim=5, num_classes=3, dropout=0.5, normalization="batchnorm"
    )
    x = randn(8, 5)
    train_scores = [net.loss(x) for _ in range(2)]
    assert not torch.equal(*train_scores)  # new dropout mask each call
    net.eval()
    eval_scores = [net.loss(x) for _ in range(2)]
    assert torch.equal(*eval_scores)
    assert net.eval() is net and net.train() is net and net.training


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_choice_and_input_cast(dtype):
    net = ConvNet((1, 8, 8), conv_channels=(4,), hidden_dims=(), num_classes=5, dtype=dtype)
    assert all(p.dtype == dtype for p in net.params.values())
    loss, grads = net.loss(randn(2, 1, 8, 8).to(torch.float16), labels(2, 5))
    assert loss.dtype == dtype and all(g.dtype == dtype for g in grads.values())
    assert net.loss(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)).shape == (2, 5)


def test_bad_input_says_expected_and_got():
    net = ConvNet((1, 8, 8), conv_channels=(4,), hidden_dims=(), num_classes=5)
    with pytest.raises(UserError, match=r"expected x of shape \(N, 1, 8, 8\), got \(2, 3, 8, 8\)"):
        net.loss(torch.zeros(2, 3, 8, 8))
    fc = TwoLayerNet(input_dim=6, hidden_dim=4, num_classes=3)
    with pytest.raises(UserError, match=r"expected x of shape \(N, 6\), got \(2, 5\)"):
        fc.loss(torch.zeros(2, 5))
    with pytest.raises(UserError, match=r"expected integer labels y of shape \(2,\), got \(3,\)"):
        fc.loss(torch.zeros(2, 6), torch.tensor([0, 1, 2]))
    with pytest.raises(UserError, match=r"labels in \[0, 3\)"):
        fc.loss(torch.zeros(2, 6), torch.tensor([0, 3]))
    with pytest.raises(UserError, match="normalization"):
        FullyConnectedNet([4], normalization="groupnorm")
    with pytest.raises(UserError, match="dtype"):
        TwoLayerNet(dtype=torch.float16)


def test_batchnorm_net_rejects_batch_of_one_in_training_only():
    net = FullyConnectedNet([4], input_dim=3, num_classes=2, normalization="batchnorm")
    with pytest.raises(UserError, match="more than one value per channel"):
        net.loss(torch.zeros(1, 3), torch.tensor([0]))
    assert net.eval().loss(torch.zeros(1, 3)).shape == (1, 2)
