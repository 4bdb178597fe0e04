"""From-scratch optimizers vs torch.optim, step for step, in float64.

Tolerance: parameters agree to atol 1e-10 (float64) after every one of 100 steps. In practice
(torch 2.14) the trajectories are bit-identical: the same operations run in the same order.
"""

import io
import math

import pytest
import torch

from scratchdl.errors import UserError
from scratchdl.scratch.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    DictOptimizer,
    RMSprop,
    scratch_optimizer,
)

ATOL = 1e-10
STEPS = 100
DT = torch.float64
SHAPES = [(16, 10), (16,), (3, 16), (3,)]  # a 10-16-3 MLP: W1, b1, W2, b2


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: extra intra-op threads only fight over the shared CPUs (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(32, 10, generator=g, dtype=DT)
    Y = torch.randn(32, 3, generator=g, dtype=DT)
    init = [torch.randn(s, generator=g, dtype=DT) * 0.5 for s in SHAPES]
    return X, Y, init


def mlp_loss(params, X, Y):
    W1, b1, W2, b2 = params
    out = torch.tanh(X @ W1.T + b1) @ W2.T + b2
    return ((out - Y) ** 2).mean()


def backward(params, X, Y):
    for p in params:
        p.grad = None
    mlp_loss(params, X, Y).backward()


# (id, our class, torch class, hyperparameters shared by both)
CASES = [
    ("sgd", SGD, torch.optim.SGD, dict(lr=0.1)),
    ("momentum", SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    ("momentum-dampening", SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("nesterov", SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adagrad", Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (
        "adagrad-decay-init",
        Adagrad,
        torch.optim.Adagrad,
        dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-8),
    ),
    ("rmsprop", RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop-momentum", RMSprop, torch.optim.RMSprop, dict(lr=0.005, momentum=0.9, alpha=0.9)),
    ("rmsprop-centered", RMSprop, torch.optim.RMSprop, dict(lr=0.005, centered=True)),
    (
        "rmsprop-centered-momentum",
        RMSprop,
        torch.optim.RMSprop,
        dict(lr=0.002, centered=True, momentum=0.5),
    ),
    ("adam", Adam, torch.optim.Adam, dict(lr=0.01)),
    ("adam-betas-eps", Adam, torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("adam-amsgrad", Adam, torch.optim.Adam, dict(lr=0.01, amsgrad=True)),
    ("adamw", AdamW, torch.optim.AdamW, dict(lr=0.01)),
    ("adamw-amsgrad", AdamW, torch.optim.AdamW, dict(lr=0.01, amsgrad=True)),
]


def check_twins(ours_cls, torch_cls, hp, torch_hp=None, steps=STEPS, drop_grad_every=0):
    """Run both optimizers on the same problem; return the max parameter gap over all steps."""
    X, Y, init = make_problem()
    ours = [p.clone().requires_grad_() for p in init]
    twin = [p.clone().requires_grad_() for p in init]
    opt = ours_cls(ours, **hp)
    opt_twin = torch_cls(twin, **hp, **(torch_hp or {}))
    worst = 0.0
    for step in range(steps):
        for params, o in ((ours, opt), (twin, opt_twin)):
            backward(params, X, Y)
            if drop_grad_every and step % drop_grad_every == 0:
                params[1].grad = None  # b1 skips this step: per-parameter step counts diverge
            o.step()
        gap = max((a - b).abs().max().item() for a, b in zip(ours, twin, strict=True))
        worst = max(worst, gap)
        assert gap <= ATOL, f"step {step}: parameters differ by {gap:.3g}"
    moved = max((p - p0).abs().max().item() for p, p0 in zip(ours, init, strict=True))
    assert moved > 1e-3, "the optimizer barely moved: the comparison would prove nothing"
    return worst


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_torch(case, weight_decay, foreach):
    _, ours_cls, torch_cls, hp = case
    check_twins(ours_cls, torch_cls, {**hp, "weight_decay": weight_decay}, {"foreach": foreach})


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_trajectory_with_skipped_gradients(case):
    _, ours_cls, torch_cls, hp = case
    check_twins(ours_cls, torch_cls, {**hp, "weight_decay": 0.01}, drop_grad_every=3, steps=40)


@pytest.mark.parametrize(
    "ours_cls,torch_cls,hp",
    [
        (Adam, torch.optim.Adam, dict(lr=0.01)),
        (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
        (RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True)),
    ],
)
def test_param_groups_and_lr_scheduler(ours_cls, torch_cls, hp):
    """Two groups with their own lr / weight decay, and a torch StepLR driving the lr."""
    X, Y, init = make_problem(1)
    worlds = []
    for cls in (ours_cls, torch_cls):
        params = [p.clone().requires_grad_() for p in init]
        groups = [
            {"params": params[:2], "lr": hp["lr"] * 2, "weight_decay": 0.1},
            {"params": params[2:]},
        ]
        opt = cls(groups, **hp)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
        worlds.append((params, opt, sched))
    for _ in range(STEPS):
        for params, opt, sched in worlds:
            backward(params, X, Y)
            opt.step()
            sched.step()
        for a, b in zip(worlds[0][0], worlds[1][0], strict=True):
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    assert worlds[0][1].param_groups[0]["lr"] == worlds[1][1].param_groups[0]["lr"]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_dict_adapter_equals_module_path(case):
    """Hand-written world (dict of tensors + dict of grads) == nn.Module world, exactly."""
    _, ours_cls, _, hp = case
    X, Y, init = make_problem(2)
    names = ["W1", "b1", "W2", "b2"]
    module = torch.nn.ParameterList([torch.nn.Parameter(p.clone()) for p in init])
    opt = ours_cls(module.parameters(), **hp)
    table = {n: p.clone() for n, p in zip(names, init, strict=True)}  # no requires_grad
    dict_opt = DictOptimizer(ours_cls, table, **hp)
    for _ in range(30):
        backward(list(module), X, Y)
        opt.step()
        leaves = [table[n].clone().requires_grad_() for n in names]
        grads = torch.autograd.grad(mlp_loss(leaves, X, Y), leaves)
        dict_opt.step(dict(zip(reversed(names), reversed(grads), strict=True)))  # order-free
    for n, p in zip(names, module, strict=True):
        assert torch.equal(table[n], p.detach()), n


def test_dict_adapter_accepts_torch_optimizers():
    """DictOptimizer wraps torch's own classes too, giving the same result as ours."""
    X, Y, init = make_problem(3)
    names = ["W1", "b1", "W2", "b2"]
    tables = [{n: p.clone() for n, p in zip(names, init, strict=True)} for _ in range(2)]
    opts = [
        DictOptimizer(Adam, tables[0], lr=0.01),
        DictOptimizer(torch.optim.Adam, tables[1], lr=0.01),
    ]
    for _ in range(20):
        for table, opt in zip(tables, opts, strict=True):
            leaves = [table[n].clone().requires_grad_() for n in names]
            grads = torch.autograd.grad(mlp_loss(leaves, X, Y), leaves)
            opt.step(dict(zip(names, grads, strict=True)))
    for n in names:
        torch.testing.assert_close(tables[0][n], tables[1][n], atol=ATOL, rtol=0)
        assert tables[1][n].grad is None  # the adapter does not leave .grad behind


def only_plain_types(obj) -> bool:
    if isinstance(obj, dict):
        return all(only_plain_types(k) and only_plain_types(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return all(only_plain_types(v) for v in obj)
    return obj is None or isinstance(obj, bool | int | float | str | torch.Tensor)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_dict_round_trip_continues_identically(case):
    _, ours_cls, _, hp = case
    hp = {**hp, "weight_decay": 0.01}
    X, Y, init = make_problem(4)
    straight = [p.clone().requires_grad_() for p in init]
    opt = ours_cls(straight, **hp)
    for _ in range(60):
        backward(straight, X, Y)
        opt.step()

    first = [p.clone().requires_grad_() for p in init]
    opt_first = ours_cls(first, **hp)
    for _ in range(30):
        backward(first, X, Y)
        opt_first.step()
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in first], "optim": opt_first.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)  # only tensors and plain Python types inside
    assert only_plain_types(ckpt["optim"])

    resumed = [p.clone().requires_grad_() for p in ckpt["params"]]
    opt_resumed = ours_cls(resumed, lr=123.0)  # hyperparameters come back from the checkpoint
    opt_resumed.load_state_dict(ckpt["optim"])
    assert opt_resumed.param_groups[0]["lr"] == hp["lr"]
    for _ in range(30):
        backward(resumed, X, Y)
        opt_resumed.step()
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)


def test_dict_adapter_state_dict_round_trip():
    names = ["W1", "b1", "W2", "b2"]
    X, Y, init = make_problem(5)

    def grads_of(table):
        leaves = [table[n].clone().requires_grad_() for n in names]
        return dict(zip(names, torch.autograd.grad(mlp_loss(leaves, X, Y), leaves), strict=True))

    table = {n: p.clone() for n, p in zip(names, init, strict=True)}
    opt = DictOptimizer(RMSprop, table, lr=0.01, momentum=0.5)
    for _ in range(10):
        opt.step(grads_of(table))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    copy = {n: t.clone() for n, t in table.items()}
    opt_copy = DictOptimizer(RMSprop, copy, lr=0.01, momentum=0.5)
    opt_copy.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(10):
        opt.step(grads_of(table))
        opt_copy.step(grads_of(copy))
    for n in names:
        assert torch.equal(table[n], copy[n])


def test_zero_grad_and_closure():
    X, Y, init = make_problem(6)
    params = [p.clone().requires_grad_() for p in init]
    opt = Adam(params, lr=0.01)

    def closure():
        opt.zero_grad()
        loss = mlp_loss(params, X, Y)
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(20):
        last = opt.step(closure).item()
    assert last < first
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_float32_and_batch_of_one_shapes():
    """Scalar-like and 1-element parameters in float32 also match torch (atol 1e-6)."""
    g = torch.Generator().manual_seed(7)
    init = [
        torch.randn((), generator=g),
        torch.randn(1, generator=g),
        torch.randn(1, 5, generator=g),
    ]
    ours = [p.clone().requires_grad_() for p in init]
    twin = [p.clone().requires_grad_() for p in init]
    opt, opt_twin = AdamW(ours, lr=0.05), torch.optim.AdamW(twin, lr=0.05)
    for _ in range(50):
        for params, o in ((ours, opt), (twin, opt_twin)):
            o.zero_grad()
            sum((p**2).sum() * (i + 1) for i, p in enumerate(params)).backward()
            o.step()
    for a, b in zip(ours, twin, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_build_optimizer_names():
    params = [torch.zeros(2, requires_grad=True)]
    assert type(scratch_optimizer("sgd", params)) is SGD
    mom = scratch_optimizer("momentum", params, lr=0.1)
    assert mom.defaults["momentum"] == 0.9 and not mom.defaults["nesterov"]
    nes = scratch_optimizer("nesterov", params, momentum=0.5)
    assert nes.defaults["nesterov"] and nes.defaults["momentum"] == 0.5
    assert type(scratch_optimizer("adagrad", params)) is Adagrad
    assert type(scratch_optimizer("rmsprop", params)) is RMSprop
    assert type(scratch_optimizer("adam", params)) is Adam
    assert type(scratch_optimizer("adamw", params)) is AdamW
    assert type(scratch_optimizer("adam", torch.nn.Linear(2, 2))) is Adam
    dict_opt = scratch_optimizer("adam", {"W": torch.zeros(2, 2)}, lr=0.1)
    assert isinstance(dict_opt, DictOptimizer) and isinstance(dict_opt.optimizer, Adam)


def test_build_optimizer_unknown_name_suggests():
    with pytest.raises(UserError, match="adam"):
        scratch_optimizer("adma", [torch.zeros(1, requires_grad=True)])
    with pytest.raises(UserError, match="unknown optimizer"):
        scratch_optimizer("lbfgs-xyz", [torch.zeros(1, requires_grad=True)])
    with pytest.raises(UserError, match="hyperparameters"):
        scratch_optimizer("sgd", [torch.zeros(1, requires_grad=True)], lr=0.1, betas=(0.9, 0.9))


@pytest.mark.parametrize(
    "cls,hp,match",
    [
        (SGD, dict(lr=-0.1), "lr"),
        (Adam, dict(lr=-1e-3), "lr"),
        (AdamW, dict(lr=float("nan")), "lr"),
        (Adagrad, dict(lr=-1.0), "lr"),
        (RMSprop, dict(lr=-1.0), "lr"),
        (SGD, dict(lr=True), "lr"),
        (SGD, dict(lr=0.1, momentum=-0.9), "momentum"),
        (SGD, dict(lr=0.1, nesterov=True), "nesterov"),
        (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
        (Adam, dict(betas=(1.0, 0.999)), "betas"),
        (Adam, dict(betas=(0.9,)), "betas"),
        (Adam, dict(eps=-1e-8), "eps"),
        (AdamW, dict(weight_decay=-0.1), "weight_decay"),
        (RMSprop, dict(alpha=1.5), "alpha"),
        (Adagrad, dict(lr_decay=-1.0), "lr_decay"),
    ],
)
def test_bad_hyperparameters(cls, hp, match):
    with pytest.raises(UserError, match=match):
        cls([torch.zeros(2, requires_grad=True)], **hp)


def test_bad_inputs_at_step_time():
    p = torch.zeros(2, requires_grad=True)
    opt = SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = -1.0  # e.g. a broken schedule
    p.grad = torch.ones(2)
    with pytest.raises(UserError, match="lr"):
        opt.step()
    with pytest.raises(UserError, match="one Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(UserError, match="floating-point"):
        SGD([torch.zeros(2, dtype=torch.long)], lr=0.1)
    with pytest.raises(UserError, match="gradients"):
        Adam([p]).apply_gradients([])
    with pytest.raises(UserError, match="match its parameter"):
        Adam([p]).apply_gradients([torch.ones(3)])
    sparse = torch.zeros(2, requires_grad=True)
    sparse.grad = torch.ones(2).to_sparse()
    with pytest.raises(UserError, match="sparse"):
        Adam([sparse]).step()


def test_dict_adapter_bad_inputs():
    table = {"W": torch.zeros(2, 3), "b": torch.zeros(2)}
    opt = DictOptimizer(SGD, table, lr=0.1)
    good = {"W": torch.ones(2, 3), "b": torch.ones(2)}
    with pytest.raises(UserError, match="missing \\['b'\\]"):
        opt.step({"W": good["W"]})
    with pytest.raises(UserError, match="unexpected \\['c'\\]"):
        opt.step({**good, "c": torch.ones(1)})
    with pytest.raises(UserError, match="expected \\(2, 3\\)"):
        opt.step({**good, "W": torch.ones(3, 2)})
    with pytest.raises(UserError, match="float32"):
        opt.step({**good, "b": torch.ones(2, dtype=torch.float64)})
    with pytest.raises(UserError, match="non-empty dict"):
        DictOptimizer(SGD, [torch.zeros(1)], lr=0.1)
    with pytest.raises(UserError, match="floating-point"):
        DictOptimizer(SGD, {"W": [1.0]}, lr=0.1)
    opt.step(good)
    torch.testing.assert_close(table["W"], torch.full((2, 3), -0.1))
    table["W"] = torch.zeros(2, 3)  # replaced, not updated in place: would be silently stale
    with pytest.raises(UserError, match="replaced"):
        opt.step(good)


def test_adam_first_step_is_lr_times_sign():
    """Hand-derived: with bias correction, Adam's first step is lr * g / (|g| + eps')."""
    p = torch.tensor([1.0, -2.0, 3.0], dtype=DT)
    g = torch.tensor([0.5, -4.0, 1e-3], dtype=DT)
    opt = DictOptimizer(Adam, {"p": p}, lr=0.1, eps=0.0)
    opt.step({"p": g})
    expected = torch.tensor([1.0, -2.0, 3.0], dtype=DT) - 0.1 * torch.sign(g)
    torch.testing.assert_close(p, expected, atol=1e-15, rtol=0)
    assert math.isclose(opt.optimizer.state[p]["step"], 1)
