"""Mean, sample standard deviation and the one-sided Welch t-test, without scipy.

The Student t tail comes from the regularized incomplete beta function (continued fraction, Numerical Recipes
§6.4); tests check it against `scipy.stats.ttest_ind(..., equal_var=False, alternative=...)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TTest:
    t: float
    df: float
    p: float  # one-sided


def mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def std(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def welch(a: Sequence[float], b: Sequence[float], alternative: str = "less") -> TTest:
    """Welch's t-test of mean(a) - mean(b) < 0 ("less") or > 0 ("greater").

    `b` may hold a single value (a fixed baseline): the test is then one-sample t on `a` with df = n - 1.
    Needs len(a) >= 2 and some spread; otherwise the p-value is nan.
    """
    if alternative not in ("less", "greater"):
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    va = std(a) ** 2 / len(a) if len(a) > 1 else math.nan
    vb = std(b) ** 2 / len(b) if len(b) > 1 else 0.0
    se2 = va + vb
    if len(a) < 2 or not se2 > 0:
        return TTest(math.nan, math.nan, math.nan)
    t = (mean(a) - mean(b)) / math.sqrt(se2)
    df = se2**2 / (va**2 / (len(a) - 1) + (vb**2 / (len(b) - 1) if len(b) > 1 else 0.0))
    p = t_cdf(t, df) if alternative == "less" else t_cdf(-t, df)
    return TTest(t, df, p)


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t < 0 else 1.0 - tail


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float, eps: float = 1e-15, tiny: float = 1e-300) -> float:
    """Lentz's evaluation of the continued fraction of I_x(a, b)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h
