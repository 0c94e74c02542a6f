"""One-factor models of a correlation matrix, for McDonald's ω (pure; no NumPy at run time).

Minimum residual (minres, as R's psych::fa(fm = "minres") fits it): the loadings λ that
minimise the squared off-diagonal residuals of R − λλᵀ. At the minimum the reduced matrix
(R with its diagonal replaced by the communalities λ²) has λ as its first eigenvector scaled
by √ of its eigenvalue, which is the fixed point of iterated principal-axis factoring: so that
is how it is fitted here, from the squared multiple correlations, to a change under 1e-12.
Held to psych 2.2.9 on its bfi data in tests/core/test_psychometrics.py (to about 1e-5, the
stopping tolerance of psych's optimiser).
"""

from __future__ import annotations

import math

Matrix = list[list[float]]

# psych bounds every uniqueness below by 0.005: a Heywood case stops at a communality of .995.
_MAX_COMMUNALITY = 0.995


def correlations_from(cov: Matrix) -> Matrix | None:
    """The correlation matrix of a covariance matrix; None when an item has no variance."""
    sd = [math.sqrt(cov[a][a]) if cov[a][a] > 0 else 0.0 for a in range(len(cov))]
    if not all(sd):
        return None
    return [[cov[a][b] / (sd[a] * sd[b]) for b in range(len(cov))] for a in range(len(cov))]


def _inverse_diagonal(r: Matrix) -> list[float] | None:
    """The diagonal of R⁻¹ by Gauss–Jordan elimination; None when R is singular."""
    k = len(r)
    m = [row[:] + [1.0 if a == b else 0.0 for b in range(k)] for a, row in enumerate(r)]
    for col in range(k):
        pivot = max(range(col, k), key=lambda row: abs(m[row][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        top = m[col][col]
        m[col] = [v / top for v in m[col]]
        for row in range(k):
            if row != col and m[row][col] != 0.0:
                factor = m[row][col]
                m[row] = [v - factor * w for v, w in zip(m[row], m[col], strict=True)]
    return [m[a][k + a] for a in range(k)]


def _first_eigen(m: Matrix, start: list[float]) -> tuple[float, list[float]]:
    """The largest eigenvalue of a symmetric matrix and its unit eigenvector (power iteration
    from `start`, shifted so that the largest algebraic eigenvalue dominates)."""
    k = len(m)
    shift = max(sum(abs(v) for v in row) for row in m)  # ≥ every |eigenvalue|
    vector = start
    value = 0.0
    for _ in range(10_000):
        product = [sum(m[a][b] * vector[b] for b in range(k)) + shift * vector[a] for a in range(k)]
        norm = math.sqrt(sum(v * v for v in product))
        if norm == 0.0:
            break
        product = [v / norm for v in product]
        change = max(abs(p - v) for p, v in zip(product, vector, strict=True))
        vector, value = product, norm - shift
        if change < 1e-14:
            break
    return value, vector


def minres_loadings(r: Matrix) -> list[float] | None:
    """One-factor minres loadings of a correlation matrix, signed so that they sum ≥ 0."""
    k = len(r)
    if k < 2:
        return None
    inverse = _inverse_diagonal(r)
    h2 = (
        [min(max(1 - 1 / d, 0.0), _MAX_COMMUNALITY) for d in inverse]
        if inverse is not None
        else [max(abs(r[a][b]) for b in range(k) if b != a) for a in range(k)]
    )
    vector = [1 / math.sqrt(k)] * k
    loadings = [0.0] * k
    for _ in range(5_000):
        reduced = [[h2[a] if a == b else r[a][b] for b in range(k)] for a in range(k)]
        value, vector = _first_eigen(reduced, vector)
        loadings = [math.sqrt(max(value, 0.0)) * v for v in vector]
        new = [min(x * x, _MAX_COMMUNALITY) for x in loadings]
        change = max(abs(a - b) for a, b in zip(new, h2, strict=True))
        h2 = new
        if change < 1e-12:
            break
    if sum(loadings) < 0:
        loadings = [-x for x in loadings]
    return [math.copysign(min(abs(x), math.sqrt(_MAX_COMMUNALITY)), x) for x in loadings]


def omega_total(r: Matrix) -> tuple[float, list[float]] | None:
    """McDonald's ω total from a one-factor minres model, as psych::omega gives it for one
    factor: 1 − Σ(1 − λ²) / ΣR, the share of the total score's variance that is common;
    and the loadings."""
    loadings = minres_loadings(r)
    total = sum(map(sum, r))
    if loadings is None or total <= 0:
        return None
    return 1 - sum(1 - x * x for x in loadings) / total, loadings
