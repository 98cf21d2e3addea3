"""A difference between two methods measured over repeats × examples, and Holm's adjustment.

compare runs every arm K times (repeats with their own seeds) on the same n test examples. The
question a user asks is "is this method better", not "is this one prompt better", so the run-to-run
variation of the prompts has to be counted. A difference is shown only when it holds both ways (an
intersection-union test, whose error rate is at most that of either test): across runs, a t test over
the K repeats' mean differences on these examples (K − 1 degrees of freedom), and across examples, a
paired t test over the n examples' differences averaged over the repeats (n − 1). Its interval is the
wider of the two.

The test before this one added the examples' share of the variance to the repeats' and kept K − 1
degrees of freedom: on trec (3 repeats, n = 100) it could not show a +0.47 gain that held in every
repeat (0.53, 0.41, 0.48; adjusted p = 0.11), since a real gain lands on some examples and not others,
and that spread was then read with 2 degrees of freedom. Measured by bench/null_check.py (300 simulated
worlds a row, n = 100, 3 repeats; see bench/README.md): identical arms are flagged in 1.7-6.7 % of worlds
at run-to-run sd 0 to 0.1 (before: 4.0-6.3 %) and in at most 3.3 % family-wise after Holm; a +0.15 gain
spread evenly over the examples is found as often as before (0.53 / 0.28 / 0.12), and one that lands
on 15 % of the examples, as worked examples' gains do, two to four times as often (0.41 / 0.29 / 0.19,
before 0.10 / 0.11 / 0.10). With one repeat only the test over examples is left, and run-to-run
variation is not counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

__all__ = ["RepeatedDifference", "holm", "repeated_difference", "t_quantile", "t_two_sided_p"]


class RepeatedDifference(BaseModel):
    """mean(a − b) over repeats × examples: its t interval, p-value, degrees of freedom and win rates."""

    model_config = ConfigDict(extra="forbid")

    estimate: float
    low: float
    high: float
    se: float
    df: float
    p_value: float
    repeats: int
    n: int
    wins: float  # share of examples where a's mean over repeats is higher
    ties: float
    losses: float
    level: float = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (df may be fractional)."""
    if math.isinf(t):
        return 0.0
    return min(1.0, _betainc(df / 2.0, 0.5, df / (df + t * t)))


def t_quantile(q: float, df: float) -> float:
    """The q quantile (q > 0.5) of Student's t with df degrees of freedom, by bisection."""
    target = 2.0 * (1.0 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _t_test(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, standard error, degrees of freedom) of a one-sample t test on `values`."""
    m = len(values)
    mean = math.fsum(values) / m
    if m < 2:
        return mean, 0.0, 0.0
    var = math.fsum((v - mean) ** 2 for v in values) / (m - 1)
    return mean, math.sqrt(var / m), m - 1.0


def _p_and_half(estimate: float, se: float, df: float, level: float) -> tuple[float, float]:
    """A t test's two-sided p-value and the half-width of its interval; a zero spread is certain either way."""
    if se == 0.0 or df <= 0:
        return (1.0 if abs(estimate) < 1e-12 else 0.0), 0.0
    return t_two_sided_p(estimate / se, df), t_quantile(1 - (1 - level) / 2, df) * se


def repeated_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *,
                        level: float = 0.95) -> RepeatedDifference:
    """mean(a − b) where a[k][i] and b[k][i] are repeat k's scores on example i (repeat k of each arm
    shares its seed), with a p-value and interval that hold across runs and across examples."""
    if not a or len(a) != len(b) or any(len(x) != len(a[0]) or len(y) != len(a[0]) for x, y in zip(a, b)) or not a[0]:
        raise ValueError("both arms need the same repeats over the same examples (a non-empty table)")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level}")
    d = [[float(x) - float(y) for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]
    k, n = len(d), len(d[0])
    estimate = math.fsum(map(math.fsum, d)) / (k * n)
    means = [math.fsum(d[j][i] for j in range(k)) / k for i in range(n)]
    tests = [_t_test(means)]  # across examples, the repeats averaged
    if k > 1:
        tests.append(_t_test([math.fsum(row) / n for row in d]))  # across runs, on these examples
    judged = [(*_p_and_half(estimate, se, df, level), se, df) for _, se, df in tests]
    p, _, se, df = max(judged, key=lambda t: (t[0], t[1]))  # the test that holds least decides
    half = max(h for _, h, _, _ in judged)
    wins, ties = sum(x > 1e-12 for x in means), sum(abs(x) <= 1e-12 for x in means)
    return RepeatedDifference(estimate=estimate, low=estimate - half, high=estimate + half, se=se, df=df, p_value=p,
                              repeats=k, n=n, wins=wins / n, ties=ties / n, losses=(n - wins - ties) / n, level=level)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: each p-value made to hold for the whole family of tests, in the given order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
