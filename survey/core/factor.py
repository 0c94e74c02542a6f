"""One-factor models of a correlation matrix, for McDonald's ω (pure; no NumPy at run time).

Minimum residual (minres, as R's psych::fa(fm = "minres") fits it): the loadings λ that
minimise the squared off-diagonal residuals of R − λλᵀ. At the minimum the reduced matrix
(R with its diagonal replaced by the communalities λ²) has λ as its first eigenvector scaled
by √ of its eigenvalue, which is the fixed point of iterated principal-axis factoring: so that
is how it is fitted here, from the squared multiple correlations (each step's eigenvector by
Jacobi rotations), to a change in the communalities under 1e-10.
Held to psych 2.2.9 on its bfi data in tests/core/test_psychometrics.py (to about 1e-5, the
stopping tolerance of psych's optimiser).
"""

from __future__ import annotations

import math

from survey.core.quality import invert

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
    """The diagonal of R⁻¹; None when R is singular."""
    inverse = invert(r)
    return None if inverse is None else [inverse[a][a] for a in range(len(r))]


def _first_eigen(m: Matrix) -> tuple[float, list[float]]:
    """The largest eigenvalue of a symmetric matrix and its unit eigenvector, by cyclic Jacobi
    rotations (exact to rounding for the few items of a dimension)."""
    k = len(m)
    a = [row[:] for row in m]
    v = [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]
    scale = sum(x * x for row in a for x in row)
    for _ in range(50):
        off = sum(a[i][j] ** 2 for i in range(k) for j in range(i + 1, k))
        if off <= 1e-26 * scale:
            break
        for p in range(k - 1):
            for q in range(p + 1, k):
                if abs(a[p][q]) < 1e-300:
                    continue
                theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1))
                c = 1 / math.sqrt(t * t + 1)
                s = t * c
                for r in range(k):
                    arp, arq = a[r][p], a[r][q]
                    a[r][p], a[r][q] = c * arp - s * arq, s * arp + c * arq
                for r in range(k):
                    apr, aqr = a[p][r], a[q][r]
                    a[p][r], a[q][r] = c * apr - s * aqr, s * apr + c * aqr
                for r in range(k):
                    vrp, vrq = v[r][p], v[r][q]
                    v[r][p], v[r][q] = c * vrp - s * vrq, s * vrp + c * vrq
    top = max(range(k), key=lambda i: a[i][i])
    return a[top][top], [v[r][top] for r in range(k)]


def _power(m: Matrix, start: list[float]) -> tuple[float, list[float]]:
    """The first eigenpair by power iteration from the last step's vector, which is nearly
    it; by Jacobi rotations when that does not settle (no dominant positive eigenvalue)."""
    k = len(m)
    vector = start
    for _ in range(200):
        product = [sum(m[a][b] * vector[b] for b in range(k)) for a in range(k)]
        value = sum(p * v for p, v in zip(product, vector, strict=True))
        norm = math.sqrt(sum(p * p for p in product))
        if norm == 0.0 or value <= 0.0:
            break
        product = [p / norm for p in product]
        if max(abs(p - v) for p, v in zip(product, vector, strict=True)) < 1e-13:
            return value, product
        vector = product
    return _first_eigen(m)


def minres_loadings(r: Matrix) -> list[float] | None:
    """One-factor minres loadings of a correlation matrix, signed so that they sum ≥ 0; None
    when the iteration does not settle."""
    k = len(r)
    if k < 2:
        return None
    inverse = _inverse_diagonal(r)
    h2 = (
        [min(max(1 - 1 / d, 0.0), _MAX_COMMUNALITY) for d in inverse]
        if inverse is not None
        else [max(abs(r[a][b]) for b in range(k) if b != a) for a in range(k)]
    )
    vector: list[float] | None = None
    for _ in range(_MAX_ITERATIONS):
        reduced = [[h2[a] if a == b else r[a][b] for b in range(k)] for a in range(k)]
        value, vector = _power(reduced, vector) if vector else _first_eigen(reduced)
        loadings = [math.sqrt(max(value, 0.0)) * v for v in vector]
        new = [min(x * x, _MAX_COMMUNALITY) for x in loadings]
        change = max(abs(a - b) for a, b in zip(new, h2, strict=True))
        h2 = new
        if change < 1e-10:
            if sum(loadings) < 0:
                loadings = [-x for x in loadings]
            return [math.copysign(min(abs(x), math.sqrt(_MAX_COMMUNALITY)), x) for x in loadings]
    return None


# Iterated principal axes settles in tens of steps on real items; a dimension that has not
# settled after this many has no one-factor solution worth printing.
_MAX_ITERATIONS = 1_000


def omega_total(r: Matrix) -> tuple[float, list[float]] | None:
    """McDonald's ω total from a one-factor minres model, as psych::omega gives it for one
    factor: 1 − Σ(1 − λ²) / ΣR, the share of the total score's variance that is common;
    and the loadings. None when an item loads negatively (psych would reverse it; as keyed,
    the dimension is not one factor, and the item is marked weak) or the fit does not settle."""
    loadings = minres_loadings(r)
    total = sum(map(sum, r))
    if loadings is None or total <= 0 or min(loadings) < 0:
        return None
    return 1 - sum(1 - x * x for x in loadings) / total, loadings
