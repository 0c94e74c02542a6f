"""The F distribution's quantiles, for confidence intervals (pure; no SciPy at run time).

The regularised incomplete beta function by its continued fraction (Lentz's method, as in
Numerical Recipes §6.4), and the F quantile by bisection on it. Accurate to about 1e-11 for
the degrees of freedom a report meets (held to SciPy in tests/core/test_distributions.py).
"""

from __future__ import annotations

import functools
import math

_TINY = 1e-300
_EPS = 3e-15


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x below the mean; above it, use the symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, 1.0 - x) / b


def _fraction(a: float, b: float, x: float) -> float:
    def floor(v: float) -> float:
        return v if abs(v) > _TINY else _TINY

    c, d = 1.0, 1.0 / floor(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 100_000):
        even = m * (b - m) * x / ((a - 1.0 + 2 * m) * (a + 2 * m))
        d = 1.0 / floor(1.0 + even * d)
        c = floor(1.0 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1.0 + 2 * m))
        d = 1.0 / floor(1.0 + odd * d)
        c = floor(1.0 + odd / c)
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def f_cdf(x: float, d1: float, d2: float) -> float:
    """P(F ≤ x) for an F distribution with d1 and d2 degrees of freedom."""
    if x <= 0.0:
        return 0.0
    return betainc(d1 / 2.0, d2 / 2.0, d1 * x / (d1 * x + d2))


@functools.lru_cache(maxsize=1024)
def f_ppf(p: float, d1: float, d2: float) -> float:
    """The F distribution's p-quantile (0 < p < 1); kept, since a report asks for the same
    few again (about 2 ms each at a million responses)."""
    low, high = 0.0, 1.0
    while f_cdf(high, d1, d2) < p:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if f_cdf(middle, d1, d2) < p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * high:
            break
    return (low + high) / 2.0


@functools.lru_cache(maxsize=4096)
def t_quantile_975(df: float) -> float:
    """Student's t 0.975 quantile, the half-width factor of a 95% interval: from the
    Cornish–Fisher expansion about the normal's 1.96, then Newton steps on the t tail (a
    report asks for one per group size, so each costs a few incomplete betas, not a search)."""
    z = 1.959963984540054
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df * df)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(50):
        tail = t_two_sided_p(t, df) / 2  # P(T > t)
        density = math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))
        step = (tail - 0.025) / density
        t += step
        if abs(step) < 1e-13 * t:
            break
    return t


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with df degrees of freedom."""
    return betainc(df / 2.0, 0.5, df / (df + t * t)) if t else 1.0


def benjamini_hochberg(ps: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, in the order given (as
    scipy.stats.false_discovery_control(ps, method="bh"))."""
    m = len(ps)
    order = sorted(range(m), key=ps.__getitem__)
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, ps[i] * m / rank)
        adjusted[i] = running
    return adjusted
