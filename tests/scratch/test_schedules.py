"""Schedules vs torch.optim.lr_scheduler: the same lr at every step.

Tolerance: rel 1e-12 (+ abs 1e-15). Our schedules are closed forms; torch's update the lr
recursively (multiplying by ratios), so the two differ only by accumulated round-off.
"""

import io
import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler as tls

from scratchdl.errors import UserError
from scratchdl.scratch.optim import SGD, Adam, DictOptimizer
from scratchdl.scratch.schedules import (
    ConstantSchedule,
    CosineSchedule,
    InverseSqrtSchedule,
    LinearSchedule,
    MultiStepSchedule,
    NoamSchedule,
    ScheduledLR,
    StepSchedule,
    WarmupWrapper,
    build_schedule,
    make_schedule,
)

RTOL, ATOL = 1e-12, 1e-15
BASE_LRS = (0.1, 0.03)  # two param groups with their own base lr


def optimizer(cls=torch.optim.SGD):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in BASE_LRS]
    return cls(groups, lr=BASE_LRS[0])


def lr_sequence(make_scheduler, steps: int, cls=torch.optim.SGD) -> list[list[float]]:
    """The lrs (per group) at steps 0..steps, stepping the optimizer first like a real loop."""
    opt = optimizer(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's construction warnings
        sched = make_scheduler(opt)
    seq = [list(sched.get_last_lr())]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(list(sched.get_last_lr()))
        assert [g["lr"] for g in opt.param_groups] == seq[-1]
    return seq


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert math.isclose(x, y, rel_tol=RTOL, abs_tol=ATOL), f"step {step}: {x} != {y}"


def assert_pure(schedule, seq):
    """The pure function gives the scheduler's lrs, for every group's base lr."""
    for step, lrs in enumerate(seq):
        assert [schedule.lr_at(step, base) for base in BASE_LRS] == lrs


# (id, our Schedule, torch scheduler factory, steps)
TWINS = [
    ("step", StepSchedule(7, 0.5), lambda o: tls.StepLR(o, 7, 0.5), 120),
    ("step-size-1", StepSchedule(1, 0.97), lambda o: tls.StepLR(o, 1, 0.97), 120),
    (
        "multistep",
        MultiStepSchedule((10, 35, 36, 90), 0.3),
        lambda o: tls.MultiStepLR(o, [10, 35, 36, 90], 0.3),
        120,
    ),
    ("cosine", CosineSchedule(120), lambda o: tls.CosineAnnealingLR(o, 120), 120),
    (
        "cosine-eta-min",
        CosineSchedule(150, 1e-3),
        lambda o: tls.CosineAnnealingLR(o, 150, eta_min=1e-3),
        150,
    ),
    ("cosine-T1", CosineSchedule(1, 1e-3), lambda o: tls.CosineAnnealingLR(o, 1, 1e-3), 1),
    (
        "linear",
        LinearSchedule(100, 0.5, 0.1),
        lambda o: tls.LinearLR(o, 0.5, 0.1, total_iters=100),
        130,
    ),
    ("linear-T1", LinearSchedule(1, 1.0, 0.0), lambda o: tls.LinearLR(o, 1.0, 0.0, 1), 5),
    ("constant", ConstantSchedule(), lambda o: tls.LambdaLR(o, lambda s: 1.0), 100),
]


def warmup_twin(inner_torch, warmup, start_factor):
    def make(o):
        warm = tls.LinearLR(o, start_factor, 1.0, total_iters=warmup)
        return tls.SequentialLR(o, [warm, inner_torch(o)], milestones=[warmup])

    return make


TWINS += [
    (
        "warmup-cosine",
        WarmupWrapper(CosineSchedule(100, 1e-4), 20, 0.1),
        warmup_twin(lambda o: tls.CosineAnnealingLR(o, 100, 1e-4), 20, 0.1),
        120,
    ),
    (
        "warmup-step",
        WarmupWrapper(StepSchedule(30, 0.1), 10, 0.01),
        warmup_twin(lambda o: tls.StepLR(o, 30, 0.1), 10, 0.01),
        120,
    ),
    (
        "warmup-multistep",
        WarmupWrapper(MultiStepSchedule((40, 80), 0.2), 5, 0.5),
        warmup_twin(lambda o: tls.MultiStepLR(o, [40, 80], 0.2), 5, 0.5),
        120,
    ),
    (
        "warmup-linear",
        WarmupWrapper(LinearSchedule(99, 1.0, 0.0), 1, 0.25),
        warmup_twin(lambda o: tls.LinearLR(o, 1.0, 0.0, 99), 1, 0.25),
        110,
    ),
]


@pytest.mark.parametrize("case", TWINS, ids=[c[0] for c in TWINS])
def test_schedule_matches_torch_twin(case):
    _, schedule, torch_factory, steps = case
    ours = lr_sequence(lambda o: ScheduledLR(o, schedule), steps)
    assert_same(ours, lr_sequence(torch_factory, steps))
    assert_pure(schedule, ours)
    assert ours[0] != ours[-1] or isinstance(schedule, ConstantSchedule)


def test_works_on_our_optimizers_and_dict_optimizer():
    schedule = WarmupWrapper(CosineSchedule(50), 10)
    ours = lr_sequence(lambda o: ScheduledLR(o, schedule), 60, cls=Adam)
    assert_same(ours, lr_sequence(lambda o: ScheduledLR(o, schedule), 60))
    dict_opt = DictOptimizer(SGD, {"W": torch.zeros(2, 2)}, lr=0.1)
    sched = ScheduledLR(dict_opt, schedule)
    for _ in range(15):
        dict_opt.step({"W": torch.ones(2, 2)})
        sched.step()
    assert dict_opt.param_groups[0]["lr"] == schedule.lr_at(15, 0.1)


def test_inverse_sqrt_against_formula():
    plain = InverseSqrtSchedule(timescale=25)
    seq = lr_sequence(lambda o: ScheduledLR(o, plain), 150)
    for step, lrs in enumerate(seq):
        want = [base * math.sqrt(25 / (step + 25)) for base in BASE_LRS]
        assert_same([lrs], [want])
    assert plain.lr_at(0, 0.1) == 0.1 and plain.lr_at(75, 0.1) == pytest.approx(0.05)

    # A linear warm-up of W steps in front gives fairseq's lr * sqrt(W / step) after W.
    warm = make_schedule("inverse_sqrt", 200, warmup_steps=20)
    for step in range(200):
        want = 0.1 * step / 20 if step < 20 else 0.1 * math.sqrt(20 / step)
        assert math.isclose(warm.lr_at(step, 0.1), want, rel_tol=RTOL, abs_tol=ATOL)


def test_noam_against_formula():
    noam = NoamSchedule(d_model=512, warmup_steps=40)
    seq = lr_sequence(lambda o: ScheduledLR(o, noam), 150)
    for step, lrs in enumerate(seq):
        n = step + 1  # the paper's step_num
        want = [b * 512**-0.5 * min(n**-0.5, n * 40**-1.5) for b in BASE_LRS]
        assert_same([lrs], [want])
    peak = max(range(150), key=lambda s: noam.lr_at(s))
    assert peak == 39  # step_num == warmup_steps
    assert noam.lr_at(39) == pytest.approx((512 * 40) ** -0.5)
    built = make_schedule("inverse_sqrt", 150, warmup_steps=40, d_model=512)
    assert built == noam


def test_state_dict_round_trip_mid_schedule():
    schedule = make_schedule("cosine", 100, warmup_steps=10, eta_min=1e-4)
    straight = lr_sequence(lambda o: ScheduledLR(o, schedule), 100)

    opt = optimizer()
    sched = ScheduledLR(opt, schedule)
    for _ in range(37):
        opt.step()
        sched.step()
    buffer = io.BytesIO()
    torch.save({"optim": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)

    opt2 = optimizer()
    sched2 = ScheduledLR(opt2, schedule)  # build first, then load (torch's documented order)
    opt2.load_state_dict(ckpt["optim"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.get_last_lr() == straight[37]
    resumed = [sched2.get_last_lr()]
    for _ in range(63):
        opt2.step()
        sched2.step()
        resumed.append(list(sched2.get_last_lr()))
    assert resumed == straight[37:]


def test_build_schedule_names_and_defaults():
    opt = optimizer()
    assert build_schedule("none", opt, 10).schedule == ConstantSchedule()
    assert make_schedule("step", 90) == StepSchedule(30, 0.1)
    assert make_schedule("multistep", 100, gamma=0.5) == MultiStepSchedule((50, 75), 0.5)
    assert make_schedule("cosine", 100, eta_min=0.01) == CosineSchedule(100, 0.01)
    assert make_schedule("linear", 100) == LinearSchedule(100, 1.0, 0.0)
    assert make_schedule("inverse_sqrt", 100) == InverseSqrtSchedule(1)
    assert make_schedule("cosine", 100, warmup_steps=10) == WarmupWrapper(
        CosineSchedule(90), 10, 0.0
    )


def test_edge_cases():
    # warmup 0 is exactly no warm-up
    assert make_schedule("cosine", 50, warmup_steps=0) == CosineSchedule(50)
    assert WarmupWrapper(CosineSchedule(50), 0).lr_at(7, 0.1) == CosineSchedule(50).lr_at(7, 0.1)
    # total_steps 1: cosine goes base -> eta_min, linear base -> end factor
    assert [make_schedule("cosine", 1).lr_at(s, 0.1) for s in range(3)] == [0.1, 0.0, 0.0]
    assert [make_schedule("linear", 1, end_factor=0.5).lr_at(s, 2.0) for s in (0, 1, 2)] == [
        2.0,
        1.0,
        1.0,
    ]
    assert [make_schedule("step", 1).lr_at(s) for s in (0, 1)] == [1.0, pytest.approx(0.1)]
    # warm-up with start factor 0 (no torch twin: LinearLR needs > 0) against the formula
    warm = make_schedule("linear", 10, warmup_steps=4)
    assert [warm.lr_at(s, 1.0) for s in range(11)] == pytest.approx(
        [0.0, 0.25, 0.5, 0.75, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0]
    )
    # cosine holds eta_min after total_steps (torch's recursion would rise again)
    assert CosineSchedule(10, 0.01).lr_at(25, 1.0) == 0.01


@pytest.mark.parametrize(
    "name,total,hp,match",
    [
        ("cosin", 10, {}, "did you mean cosine"),
        ("exponential", 10, {}, "unknown schedule"),
        ("step", 10, {"gama": 0.1}, "unknown hyperparameter"),
        ("cosine", 0, {}, "total_steps"),
        ("cosine", 2.5, {}, "total_steps"),
        ("cosine", 10, {"warmup_steps": 10}, "warmup_steps must be <"),
        ("cosine", 10, {"warmup_steps": -1}, "warmup_steps"),
        ("cosine", 10, {"eta_min": -0.1}, "eta_min"),
        ("cosine", 10, {"warmup_steps": 2, "warmup_start_factor": 2.0}, "warmup_start_factor"),
        ("step", 10, {"step_size": 0}, "step_size"),
        ("step", 10, {"gamma": -0.5}, "gamma"),
        ("multistep", 10, {"milestones": [5, 3]}, "increasing"),
        ("multistep", 10, {"milestones": [0, 3]}, "milestone"),
        ("multistep", 10, {"milestones": 5}, "milestones"),
        ("linear", 10, {"end_factor": float("nan")}, "end_factor"),
        ("inverse_sqrt", 10, {"timescale": 0}, "timescale"),
        ("inverse_sqrt", 10, {"d_model": 512}, "warmup_steps >= 1"),
        ("inverse_sqrt", 10, {"d_model": 512, "timescale": 4, "warmup_steps": 2}, "not both"),
    ],
)
def test_bad_input(name, total, hp, match):
    with pytest.raises(UserError, match=match):
        build_schedule(name, optimizer(), total, **hp)


def test_bad_optimizer_and_step():
    with pytest.raises(UserError, match="torch.optim.Optimizer"):
        ScheduledLR("adam", ConstantSchedule())
    with pytest.raises(UserError, match="Schedule"):
        ScheduledLR(optimizer(), lambda s: 1.0)
    with pytest.raises(UserError, match="step"):
        CosineSchedule(10).lr_at(-1)
