"""Statistics for comparing runs over seeds: mean, sample std, and a paired t-test.

The t-test's p-value uses the Student t distribution through the regularized incomplete
beta function (continued fraction, as in Numerical Recipes), so no SciPy is needed; the
test suite checks it against scipy.stats.ttest_rel.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def format_mean_std(mean: float, std: float, n: int) -> str:
    """'mean ± std' to 4 decimals; the mean alone for one seed, whose spread is unknown."""
    return f"{mean:.4f} ± {std:.4f}" if n > 1 else f"{mean:.4f}"


def _betacf(a: float, b: float, x: float) -> float:
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, dof: int) -> float:
    """P(|T| >= |t|) for Student's t with `dof` degrees of freedom."""
    return betainc(dof / 2.0, 0.5, dof / (dof + t * t))


@dataclass
class PairedTest:
    mean_diff: float
    t: float
    p: float
    n: int


def paired_t_test(a: list[float], b: list[float]) -> PairedTest | None:
    """Two-sided paired t-test of b - a over matched seeds; None with fewer than 2 pairs.

    Identical differences (zero variance) give t = +-inf and p = 0, or t = 0 and p = 1 when
    they are all zero.
    """
    if len(a) != len(b):
        raise ValueError("paired test needs the same seeds on both sides")
    n = len(a)
    if n < 2:
        return None
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    mean, sd = mean_std(diffs)
    if sd == 0.0:
        return PairedTest(
            mean, 0.0 if mean == 0 else math.copysign(math.inf, mean), 1.0 if mean == 0 else 0.0, n
        )
    t = mean / (sd / math.sqrt(n))
    return PairedTest(mean, t, t_two_sided_p(t, n - 1), n)
