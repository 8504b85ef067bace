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


def chebyshev_columns(x: np.ndarray, lo: float, hi: float, k: int) -> np.ndarray:
    """len(x) x k values of the Chebyshev polynomials T_0..T_{k-1} at x mapped from [lo, hi] to [-1, 1]
    (three-term recurrence, one column at a time)."""
    out = np.empty((k, len(x)))  # one polynomial a contiguous row, returned transposed
    out[0] = 1.0
    if k > 1:
        z = (2.0 * np.asarray(x, float) - (lo + hi)) / (hi - lo)
        out[1] = z
        z2 = 2.0 * z
        for j in range(2, k):
            np.multiply(z2, out[j - 1], out=out[j])
            out[j] -= out[j - 2]
    return out.T


def node_weights(w: np.ndarray, u: np.ndarray, u_nodes: np.ndarray, v: np.ndarray | None = None,
                 v_nodes: np.ndarray | None = None) -> np.ndarray:
    """sum_i w_i L_k(u_i) (one dimension: a vector over the nodes of u) or sum_i w_i L_k(u_i) L_m(v_i)
    (two: a matrix over the nodes of u and v): the mean of any interpolated function is then a sum
    over the nodes. Computed in the Chebyshev basis: the weighted sums of T_j(u_i) (and T_l(v_i)),
    mapped to the nodes by the inverse of the nodes' Chebyshev-Vandermonde matrix (well conditioned)."""
    def moments_to_nodes(nodes):
        k = len(nodes)
        if k == 1:
            return np.ones((1, 1)), (lambda x: np.ones((len(x), 1)))
        lo, hi = nodes[0], nodes[-1]
        V = chebyshev_columns(nodes, lo, hi, k)  # V[j, l] = T_l(node_j)
        return np.linalg.inv(V), (lambda x: chebyshev_columns(x, lo, hi, k))

    Vu_inv, Tu = moments_to_nodes(u_nodes)
    Au = Tu(u).T * np.asarray(w, float)  # k x n
    if v is None:
        return Vu_inv.T @ Au.sum(axis=1)
    Vv_inv, Tv = moments_to_nodes(v_nodes)
    return Vu_inv.T @ (Au @ Tv(v)) @ Vv_inv
