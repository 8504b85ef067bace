"""Bias-corrected sandwich variances for the marginal Cox model with few clusters.

With few, unequal organizations the Lin-Wei sandwich variance of a marginal Cox model is biased
downwards (benchmarks/results/calibration_trials.md: 26% below the empirical SD with about 47
organizations). Wang, Turner and Li (Biometrical Journal 2023; R package CoxBcv) carry the small-
sample corrections of the GEE literature over to the Cox score equation. For cluster i with score
U_i (the sum of its Breslow score residuals), model-based information Ustar (Breslow form, at the
fitted beta) and "cluster leverage" Omega_i (the information contributed by cluster i's martingale
increments: the exact form of CoxBcv's ``Omega_m``), with naive = Ustar^-1:

- Kauermann-Carroll ("kc"):  naive [sum_i (C_i U_i U_i' + U_i U_i' C_i') / 2] naive,
  C_i = Ustar (Ustar - Omega_i)^-1  (the one-sided square-root form CoxBcv uses);
- Mancl-DeRouen ("md"):      naive [sum_i C_i U_i U_i' C_i'] naive;
- Fay-Graubard ("fg"):       naive [sum_i F_i U_i U_i' F_i] naive,
  F_i = diag(1 / sqrt(1 - min(0.75, diag(Omega_i naive))));
- Morel-Bokossa-Neerchal ("mbn"): c R + delta phi naive with R the uncorrected (Breslow)
  sandwich, c = (n - 1) G / ((n - p)(G - 1)), delta = min(0.5, p / (G - p)),
  phi = max(1, trace(naive c B) / p), B = sum_i U_i U_i'.

The estimates use Breslow-form risk-set sums and residuals exactly as CoxBcv does (its point
estimate is R's coxph default, Efron ties; without tied event times Breslow and Efron sums
coincide). Everything is a cumulative sum over distinct event times or a per-cluster cross-product:
no n x n or n x p x p array, so it runs at the trial's size. Agreement with CoxBcv to 1e-6:
benchmarks/bench_small_sample.py, tests/test_cox_small_sample.py.
"""

from __future__ import annotations

import numpy as np

from mheval.models.cox_engine import RiskSets, loglik_grad_hess, reverse_segment_outer, score_residuals

COV_TYPES = ("robust", "kc", "fg", "md", "mbn")
"""Marginal Cox variance types: the uncorrected sandwich and the four bias corrections."""


def bias_corrected_cov(time, event, X, cluster, beta, cov_type: str) -> np.ndarray:
    """The ``cov_type`` ("kc", "fg", "md", "mbn" or "rob" for CoxBcv's uncorrected Breslow
    sandwich) covariance of the marginal Cox coefficients ``beta`` fitted to (time, event, X)
    with clusters ``cluster``. Reference: R package CoxBcv (functions CoxBcv.kc, .fg, .md, .mbn,
    .rob), whose formulas this reproduces term by term (see the module docstring)."""
    if cov_type not in ("kc", "fg", "md", "mbn", "rob"):
        raise ValueError(f"cov_type must be one of kc, fg, md, mbn, rob; got {cov_type!r}")
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    beta = np.asarray(beta, float)
    rs = RiskSets(time, event, X)
    n, p = rs.X.shape
    J = len(rs.ut)
    if cov_type in ("mbn", "rob"):
        # Ustar = sum_j d_j V(t_j) is the Breslow information: one weighted cross-product of the rows
        # (loglik_grad_hess), without the J x p x p risk-set second moments the other corrections need
        _, _, Ustar, parts = loglik_grad_hess(rs, beta, "breslow")
    else:
        _, _, w, S0, S1, _, _, _, _ = rs.sums(beta, False)  # w = exp(eta - max eta); the scale cancels
        S2 = reverse_segment_outer(w, rs.X, rs.start)
        xbar = S1 / S0[:, None]
        V = S2 / S0[:, None, None] - xbar[:, :, None] * xbar[:, None, :]  # J x p x p
        dH = rs.n_dead / S0  # Breslow increments (scaled by exp(max eta), cancelled by w below)
        Ustar = np.einsum("j,jkl->kl", rs.n_dead, V)
        # Breslow score residuals: CoxBcv's martingale-increment form
        j, frac = rs.efron_expand("breslow")
        parts = (w, S0, S1, None, None, j, frac, S0[j], xbar[j])
    naive = np.linalg.inv(Ustar)
    U = score_residuals(rs, beta, "breslow", parts)
    g = np.asarray(cluster)[rs.order]
    _, gi = np.unique(g, return_inverse=True)
    G = int(gi.max()) + 1
    Ug = np.zeros((G, p))
    np.add.at(Ug, gi, U)
    B = Ug.T @ Ug
    if cov_type == "rob":
        return naive @ B @ naive
    if cov_type == "mbn":
        c = (n - 1) * G / ((n - p) * (G - 1))
        delta = min(0.5, p / (G - p))
        phi = max(1.0, float(np.trace(naive @ (c * B))) / p)
        return c * (naive @ B @ naive) + delta * phi * naive
    # Omega_i = sum_{r in i} [d_r V(t_r) - w_r C2(t_r) + w_r (H(t_r) x_r x_r' - C1(t_r) x_r')],
    # with H, C1, C2 the cumulative sums of dH, dH xbar, dH V over event times <= t_r
    cumH = np.r_[0.0, np.cumsum(dH)]
    cumC1 = np.vstack([np.zeros((1, p)), np.cumsum(dH[:, None] * xbar, axis=0)])
    cumC2 = np.concatenate([np.zeros((1, p, p)), np.cumsum(dH[:, None, None] * V, axis=0)])
    k = rs.k_exit  # number of event times <= each row's time
    death_rows = np.flatnonzero(rs.d)
    W1 = np.zeros((G, J))
    np.add.at(W1, (gi[death_rows], rs.death_j), 1.0)
    W2 = np.zeros((G, J + 1))
    np.add.at(W2, (gi, k), w)
    Omega = (W1 @ V.reshape(J, p * p) - W2 @ cumC2.reshape(J + 1, p * p)).reshape(G, p, p)
    a = w * cumH[k]
    b = w[:, None] * cumC1[k]
    order = np.argsort(gi, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(gi, minlength=G))]
    for i in range(G):
        r = order[bounds[i]:bounds[i + 1]]
        Xi = rs.X[r]
        Omega[i] += (Xi * a[r, None]).T @ Xi - b[r].T @ Xi
    if cov_type == "fg":
        lev = np.einsum("gkl,lk->gk", Omega, naive)  # diag(Omega_i naive)
        Ugc = Ug / np.sqrt(1 - np.minimum(0.75, lev))
        return naive @ (Ugc.T @ Ugc) @ naive
    Ugc = np.stack([Ustar @ np.linalg.solve(Ustar - Omega[i], Ug[i]) for i in range(G)])
    if cov_type == "md":
        return naive @ (Ugc.T @ Ugc) @ naive
    M = Ugc.T @ Ug  # kc: sum_i C_i U_i U_i'
    return naive @ ((M + M.T) / 2) @ naive
