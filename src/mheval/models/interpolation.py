"""Means over many rows of a smooth function of one or two row values, by Chebyshev interpolation.

A standardized estimate averages a function of each row's relative hazard r_i = exp(x_i' beta) over
the rows, at every time: mean_i w_i f_t(r_i). Evaluated row by row it costs n x (number of times)
per estimate, the cost of a bootstrap. When f_t is smooth in r over the rows' range [lo, hi] (as
exp(-r H(t)) and the Aalen-Johansen products), the polynomial interpolating f_t at K Chebyshev
points of [lo, hi] reproduces it to rounding, and

    sum_i w_i f_t(r_i) = sum_k f_t(node_k) * sum_i w_i L_k(r_i)        (L_k: the Lagrange basis)

up to the interpolation error: the weights sum_i w_i L_k(r_i) cost n x K once, and f_t is then
evaluated at the K nodes only (in two dimensions: K1 x K2 nodes, the weights one n x K1 by n x K2
product). :func:`chebyshev_degree` picks K for a function behaving as exp(-c r) with c (hi - lo)
<= ``spread``: the Chebyshev coefficients of exp on an interval of length h decay as
(h / 4)^k / k!, and K stops when that is below 1e-17 (then a margin).
"""

from __future__ import annotations

import numpy as np


def chebyshev_degree(spread: float, max_points: int = 64) -> int | None:
    """Number of interpolation points for a function like exp(-c r) whose exponent varies by at most
    ``spread`` over the interval; None when more than ``max_points`` would be needed."""
    h, term, k = abs(float(spread)), 1.0, 0
    while term > 1e-17:
        k += 1
        term *= (h / 4) / k
        if k > max_points:
            return None
    k = max(k + 4, 6)
    return k if k <= max_points else None


def chebyshev_nodes(lo: float, hi: float, k: int) -> np.ndarray:
    """The k Chebyshev points of the second kind on [lo, hi] (both ends included; one point if lo == hi)."""
    if k == 1 or hi <= lo:
        return np.array([0.5 * (lo + hi)])
    return 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.pi * np.arange(k) / (k - 1))[::-1]


def lagrange_basis(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """len(x) x len(nodes) values of the Lagrange basis polynomials of the Chebyshev points ``nodes``
    (second kind) at ``x`` in their interval (barycentric formula; a row at a node gets 1 there)."""
    x = np.asarray(x, float)
    k = len(nodes)
    if k == 1:
        return np.ones((len(x), 1))
    bw = (-1.0) ** np.arange(k)
    bw[[0, -1]] *= 0.5
    diff = x[:, None] - nodes[None, :]
    hit = diff == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = bw / diff
        L = q / q.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    if rows.any():
        L[rows] = hit[rows].astype(float)
    return L


def node_weights(w: np.ndarray, u: np.ndarray, u_nodes: np.ndarray, v: np.ndarray | None = None,
                 v_nodes: np.ndarray | None = None) -> np.ndarray:
    """sum_i w_i L_k(u_i) (one dimension: a vector over the nodes of u) or sum_i w_i L_k(u_i) L_m(v_i)
    (two: a matrix over the nodes of u and v): the mean of any interpolated function is then a sum
    over the nodes."""
    Lu = lagrange_basis(u, u_nodes) * np.asarray(w, float)[:, None]
    if v is None:
        return Lu.sum(axis=0)
    return Lu.T @ lagrange_basis(v, v_nodes)
