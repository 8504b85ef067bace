"""Shared gamma frailty Cox model, as R survival's ``coxph(... + frailty(cluster))``.

Why it exists: the trial randomizes organizations, and the conditional (cluster-specific) hazard
ratio with a shared gamma frailty per organization is the standard companion of the marginal,
cluster-robust Cox model (:mod:`mheval.models.marginal_cox`). No well-kept Python library fits it:
lifelines has no frailty model (issue #173, open since 2015), and neither statsmodels' PHReg nor
scikit-survival has one. R's survival package is the reference implementation, so this module
reproduces it step for step.

How it is built (Therneau, Grambsch and Pankratz 2003, "Penalized survival models and frailty",
JCGS 12:156-175; R survival's ``frailty.gamma``, ``coxpenal.fit``, ``frailty.controlgam`` and the
C routine ``coxfit5``):

* For a given frailty variance theta the log-frailties f_g of the clusters are extra coefficients of
  a Cox model, penalized by the gamma log-density nu * sum(f_g - exp f_g), nu = 1 / theta. The
  frailties are recentred at every step so that mean(exp f) = 1, which makes the penalty
  nu * sum(f_g) (up to a constant).
* Inner loop: Newton-Raphson on (beta, f) with step halving, stopping when the penalized log
  partial likelihood changes by a relative 1e-9 (R's ``coxph.control``). As R's "sparse"
  computation (used whenever there are more than 5 clusters), only the diagonal of the
  frailty-frailty block of the information matrix is kept; the covariate-frailty and
  covariate-covariate blocks are exact. The Newton step and the variance of beta come from the
  Schur complement A - B D^-1 B' of that matrix, which is what R's ``cholesky3``/``chinv3`` compute;
  ``se`` is R's ``se(coef)``, sqrt(diag(fit$var)).
* Outer loop: theta is chosen to maximize R's approximate marginal ("I-") likelihood, the penalized
  partial likelihood plus ``frailty.gammacon``'s correction, with R's search: theta = 0, then 1, then
  halve or double, then the parabolic steps of ``frailty.brent`` on sqrt(theta), stopping when the
  criterion changes by a relative 1e-5. R stops after at most 10 fits (``outer.max``), silently and
  often before convergence on trial-size data; here the search runs to its tolerance by default
  (at most 100 fits; ``outer_max=10`` reproduces R's path) and a search that did not converge is
  flagged (``converged`` False, a RuntimeWarning); each fit starts from the previous fit
  whose theta was closest. ``theta=`` fixes theta instead, as ``frailty(cluster, theta = ...)``.
* One departure, where R fails: when a Newton step is so long that the likelihood is not finite
  (exp overflows), the step is halved like any step that does not improve the likelihood, and the
  frailties are recentred with a log-sum-exp. R's coxfit5 compares with NaN there and coxph stops
  with "missing value where TRUE/FALSE needed" (seen on the synthetic trial at scale 0.05, where
  organizations are small); wherever R succeeds the two follow the same path.

Efficiency: every risk-set sum is a cumulative sum over the rows sorted by time (as in
:mod:`mheval.models.cox_engine`); the information blocks are the weighted cross-product X'WX and
per-cluster sums (``bincount`` over a cluster index per row, a sparse cluster-by-row matrix), and the
diagonal of the frailty block is summed over each cluster's own observation times. A Newton step
costs O(n p^2) array work, with no Python loop over subjects, event times or clusters and no n x G or
G x G matrix.

Agreement and speed (tests/test_frailty_cox.py, benchmarks/bench_frailty.py): coefficients, se(coef),
theta, log-likelihoods and frailties equal R survival 3.5.3's to 1e-8 relative or better (1e-12 on
the test data) on R's rats and kidney data and on simulated data, with the same number of outer and
Newton iterations; on the synthetic trial at scale 1.0 (218,864 beneficiaries, 342 organizations)
the fit is about 3 times faster than R's coxph.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, special

from mheval.models.result import HazardRatioResult
from mheval.models.estimability import NotEstimable

_EPS_INNER = 1e-9  # coxph.control()$eps
_ITER_MAX = 20  # coxph.control()$iter.max
_R_OUTER_MAX = 10  # coxph.control()$outer.max: R's default, which often stops before convergence
_OUTER_MAX = 100  # ours: the search runs to its tolerance (each fit is a fraction of a second)
_EPS_OUTER = 1e-5  # frailty.gamma(eps = 1e-5)


@dataclass
class FrailtyCoxResult(HazardRatioResult):
    """A fitted shared gamma frailty Cox model, with the interface of
    :class:`~mheval.models.result.ModelResult` (normal reference) and ``hazard_ratios(alpha)``.

    ``params``/``bse``/``cov_params()``: fixed-effect log hazard ratios, R's ``se(coef)`` and
    ``fit$var``; ``nobs``: subjects; ``theta``: frailty
    variance used in the final fit; ``frailties``: log-frailty per cluster (R's ``fit$frail``);
    ``llf``: log partial likelihood at the estimates without the penalty (R's
    ``fit$loglik[2]``); ``marginal_loglik``: R's "I-likelihood" at ``theta``; ``n_iter``/``n_inner``:
    outer fits and total Newton iterations (R's ``fit$iter``); ``converged``: the theta search met
    its tolerance and the final fit's Newton iterations converged; ``inner_failed``: outer fits whose
    Newton iterations hit the limit (R's "Inner loop failed to converge" warning); ``history``:
    theta, penalized log-likelihood and I-likelihood of every outer fit (R's
    ``fit$history[[1]]$history``); ``theta_at_boundary``: the estimated frailty variance is at its
    boundary 0 (the I-likelihood is largest at theta = 0 among the values tried, or the estimate
    is below 1e-5): no detectable between-cluster heterogeneity, and the conditional hazard ratio
    is then the ordinary Cox model's. ``theta`` is the last row of that history, the value R prints;
    R's ``fit$history[[1]]$theta`` is the next value its search would have tried.
    """

    params: pd.Series
    bse: pd.Series
    _cov: pd.DataFrame
    theta: float
    frailties: pd.Series
    llf: float
    penalized_loglik: float
    marginal_loglik: float
    nobs: int
    n_events: int
    n_clusters: int
    converged: bool
    n_iter: int
    n_inner: int
    inner_failed: list[int]
    ties: str
    history: pd.DataFrame = field(repr=False)
    theta_at_boundary: bool = False

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects (R's ``fit$var``, frailties profiled out)."""
        return self._cov


class _Design:
    """Rows sorted by time, the index arrays of the risk sets, and the (cluster, time) blocks."""

    def __init__(self, time, event, X, grp, n_groups, ties):
        order = np.argsort(time, kind="stable")
        self.t, self.d = time[order], event[order].astype(bool)
        self.XT = np.ascontiguousarray((X[order] - X.mean(axis=0)).T)  # p x n, centred as coxfit5 does
        self.g = grp[order]
        self.G = n_groups
        n = len(self.t)
        self.ut = np.unique(self.t[self.d])  # distinct event times
        self.start = np.searchsorted(self.t, self.ut, side="left")  # first row at risk at each time
        self.dead = np.flatnonzero(self.d)  # rows of deaths, in time order
        death_j = np.searchsorted(self.ut, self.t[self.dead])
        self.n_dead = np.bincount(death_j, minlength=len(self.ut))
        self.dstart = np.r_[0, np.cumsum(self.n_dead)[:-1]]  # first death of each event time
        # Efron: the l-th of d_j tied deaths sees the risk set minus l/d_j of the deaths' weight
        self.je = death_j  # one "event term" per death: its event time ...
        l = np.arange(len(death_j)) - self.dstart[death_j]
        self.frac = l / self.n_dead[death_j] if ties == "efron" else np.zeros(len(death_j))  # ... and fraction
        # per row, where to read sums over "event terms with this row at risk": entry k of a
        # cumulative table over event times (k = number of event times <= t) for survivors, and a
        # second table for the deaths, whose own event time counts with Efron's weight 1 - l/d_j
        J = len(self.ut)
        self.pos = np.where(self.d, J + 1 + np.minimum(np.searchsorted(self.ut, self.t), J - 1),
                            np.searchsorted(self.ut, self.t, side="right"))
        self.d_group = np.bincount(self.g, weights=self.d, minlength=n_groups)
        # blocks of rows with the same (cluster, time), ordered by cluster then time
        self.perm = np.lexsort((self.t, self.g))
        gs, ts = self.g[self.perm], self.t[self.perm]
        new = np.r_[True, (gs[1:] != gs[:-1]) | (ts[1:] != ts[:-1])]
        self.bstart = np.flatnonzero(new)
        self.bg = gs[self.bstart]
        bt = ts[self.bstart]
        self.b_k = np.searchsorted(self.ut, bt, side="right")  # event times <= block time
        first = np.r_[True, self.bg[1:] != self.bg[:-1]]
        self.b_kprev = np.where(first, 0, np.r_[0, self.b_k[:-1]])
        # index (in blocks) one past the last block of the same cluster, for within-cluster sums
        last_of_group = np.r_[np.flatnonzero(first)[1:], len(self.bg)]
        self.b_next_group = np.repeat(last_of_group, np.diff(np.r_[np.flatnonzero(first), len(self.bg)]))
        self.b_j = np.minimum(np.searchsorted(self.ut, bt), J - 1)
        self.dp = self.d[self.perm].astype(float)
        # cluster x table-entry matrix with the rows' weights: M @ table sums a table over each
        # cluster's rows (one entry per row; the data are refreshed at every evaluation)
        indptr = np.r_[0, np.cumsum(np.bincount(gs, minlength=n_groups))]
        self.M = sparse.csr_matrix((np.zeros(n), self.pos[self.perm], indptr), shape=(n_groups, 2 * J + 1))
        self.x_dead_sum = self.XT[:, self.dead].sum(axis=1)
        self.buf = np.empty_like(self.XT), np.empty_like(self.XT)  # reused p x n work arrays
        self.n = n


def _evaluate(ds: _Design, beta, f, nu):
    """Penalized log partial likelihood, score and information blocks at (beta, f).

    Returns (penalized loglik, score for beta, score for f, A = beta-beta information,
    B = beta-f information (p x G), D = diagonal of the f-f information). ``nu`` is 1/theta, or
    None for theta = 0 (frailties held at zero, as R's ``flag``)."""
    XT, je, frac = ds.XT, ds.je, ds.frac  # covariates as p x n (rows of XT are contiguous)
    p = XT.shape[0]
    eta = beta @ XT + f[ds.g]
    m = eta.max()
    w = np.exp(eta - m)  # scaled: the scale cancels in every ratio below
    wxT = np.multiply(XT, w, out=ds.buf[0])
    # risk-set sums at each event time: sums over the rows between consecutive event times,
    # cumulated from the last event time back
    S0 = np.cumsum(np.add.reduceat(w, ds.start)[::-1])[::-1]
    S1 = np.cumsum(np.add.reduceat(wxT, ds.start, axis=1).T[::-1], axis=0)[::-1]
    D0 = np.add.reduceat(w[ds.dead], ds.dstart)
    D1 = np.add.reduceat(wxT[:, ds.dead], ds.dstart, axis=1).T
    den = S0[je] - frac * D0[je]  # one term per death (Efron: l/d_j of the tied deaths removed)
    xbar = (S1[je] - frac[:, None] * D1[je]) / den[:, None]
    loglik = eta[ds.dead].sum() - np.sum(np.log(den) + m)
    u_beta = ds.x_dead_sum - xbar.sum(axis=0)
    # per row: h_r = sum over event terms with r at risk of c/den (c = 1 - l/d_j if r dies then),
    # so that sum_e (S2 - frac D2)/den = X' diag(w h) X
    inv = 1.0 / den
    cdead = 1.0 - frac
    H = np.add.reduceat(inv, ds.dstart)
    Hd = np.add.reduceat(cdead * inv, ds.dstart)
    cumH = np.r_[0.0, np.cumsum(H)]
    h = np.r_[cumH, cumH[:-1] + Hd][ds.pos]
    wh = w * h
    XWT = np.multiply(XT, wh, out=ds.buf[1])
    A = XWT @ XT.T - xbar.T @ xbar
    if nu is None:
        return loglik, u_beta, np.zeros(ds.G), A, np.zeros((p, ds.G)), np.ones(ds.G)
    # cluster blocks. Score: observed - expected events per cluster
    wh_g = np.bincount(ds.g, weights=wh, minlength=ds.G)
    u_f = ds.d_group - wh_g
    # beta-f block: B[:, g] = sum_e [(S1_g - frac D1_g)/den - xbar p_g], p_g = cluster g's share of den
    #   = sum_{r in g} w_r (x_r h_r - G_r), G_r = sum over event terms with r at risk of c xbar/den
    Gx = np.add.reduceat(xbar * inv[:, None], ds.dstart, axis=0)
    Gxd = np.add.reduceat(xbar * (cdead * inv)[:, None], ds.dstart, axis=0)
    cumG = np.vstack([np.zeros((1, p)), np.cumsum(Gx, axis=0)])
    wp = w[ds.perm]
    ds.M.data[:] = wp
    B = np.stack([np.bincount(ds.g, weights=row, minlength=ds.G) for row in XWT])
    B -= (ds.M @ np.vstack([cumG, cumG[:-1] + Gxd])).T
    W = np.add.reduceat(wp, ds.bstart)  # weight of each (cluster, time) block
    Wd = np.add.reduceat(wp * ds.dp, ds.bstart)  # ... of its deaths
    # diagonal f-f information: sum over event terms of p_g (1 - p_g)
    Dg = wh_g - _sum_sq_share(ds, W, Wd, inv)
    # gamma penalty nu * sum(f - exp f), with mean(exp f) = 1
    ef = np.exp(f)
    return loglik + nu * f.sum(), u_beta, u_f + nu * (1 - ef), A, B, Dg + nu * ef


def _sum_sq_share(ds: _Design, W, Wd, inv):
    """sum over event terms e of p_ge^2 for every cluster g, in O(n).

    p_ge = (S0_g(t_j) - frac_e D0_g(t_j)) / den_e, where S0_g is cluster g's risk-set sum and D0_g
    its deaths' weight at t_j. S0_g is constant between the cluster's own observation times, so its
    square is summed against cumulative sums of 1/den^2 over event times. W and Wd are the weights
    of the (cluster, time) blocks and of their deaths."""
    frac = ds.frac
    inv2 = inv * inv
    Q0 = np.add.reduceat(inv2, ds.dstart)
    Q1 = np.add.reduceat(frac * inv2, ds.dstart)
    Q2 = np.add.reduceat(frac * frac * inv2, ds.dstart)
    CQ0 = np.r_[0.0, np.cumsum(Q0)]
    cw = np.r_[np.cumsum(W[::-1])[::-1], 0.0]
    R = cw[:-1] - cw[ds.b_next_group]  # cluster's risk-set sum from this block on
    part = R * R * (CQ0[ds.b_k] - CQ0[ds.b_kprev])
    part += Wd * (Wd * Q2[ds.b_j] - 2 * R * Q1[ds.b_j])  # zero unless the block has deaths
    return np.bincount(ds.bg, weights=part, minlength=ds.G)


def _schur(A, B, D):
    """S = A - B D^-1 B', the information for beta with the frailties profiled out (R's cholesky3)."""
    return A - (B / D) @ B.T


def _inner(ds: _Design, beta, f, theta, eps=_EPS_INNER, max_iter=_ITER_MAX):
    """R's coxfit5_b: Newton-Raphson with step halving for a fixed theta."""
    nu = None if theta == 0 else 1.0 / theta
    beta, f = beta.copy(), f.copy()
    old_beta, old_f = beta.copy(), f.copy()
    loglik, halving, converged, it = 0.0, False, False, 0
    for it in range(max_iter + 1):
        if nu is not None:
            f -= special.logsumexp(f) - np.log(len(f))  # R's pfun recentres the frailties (mean(exp f) = 1)
        newlk, ub, uf, A, B, D = _evaluate(ds, beta, f, nu)
        S = _schur(A, B, D)
        if abs(1 - loglik / newlk) <= eps and not halving:
            converged = True
            break
        if it == max_iter:
            break
        # not improving: halve the step. A non-finite value (a step so long that exp overflows)
        # also halves it; R's coxfit5 compares with NaN here and then stops with an error
        if it > 0 and not newlk >= loglik:
            halving = True
            beta, f = (old_beta + beta) / 2, (old_f + f) / 2
        else:
            halving = False
            loglik = newlk
            step_b = np.linalg.solve(S, ub - B @ (uf / D))
            step_f = (uf - B.T @ step_b) / D
            old_beta, old_f = beta, f
            beta, f = beta + step_b, f + step_f
    return beta, f, newlk, np.linalg.inv(S), it, converged


def _gammacon(d, nu):
    """R's frailty.gammacon: the I-likelihood correction for gamma frailties."""
    maxd = d.max()
    term1 = np.sum(d * d) / nu if nu > 1e7 * maxd else np.sum(d + nu * np.log(nu / (nu + d)))
    dd = d[d > 0].astype(int)
    k = np.arange(dd.sum()) - np.repeat(np.cumsum(dd) - dd, dd)  # 0 .. d_g - 1 within each cluster
    term2 = np.sum(np.log((nu + k) / (nu + np.repeat(dd, dd))))  # log Gamma(nu+d)/Gamma(nu)/(nu+d)^d
    return term1 + term2


def _brent(x, y, lower=None):
    """R's frailty.brent: next point of a parabolic search for the maximum of y(x)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n < 3:
        return float(np.mean(x))
    ordr = np.argsort(x, kind="stable")
    xx, yy = x[ordr], y[ordr]
    best = np.flatnonzero(yy == y.max())
    if len(best) > 1:
        raise RuntimeError("ties for the best theta in the outer search")
    best = best[0]
    if best == 0:
        new = xx[0] - 3 * (xx[1] - xx[0])
        if lower is not None and new < lower:
            new = lower + (np.min(xx[xx > lower]) - lower) / 10
        return new
    if best == n - 1:
        return xx[-1] + 3 * (xx[-1] - xx[-2])
    x3, y3 = xx[best - 1:best + 2], yy[best - 1:best + 2]
    t1 = (x3[1] - x3[0]) ** 2 * (y3[1] - y3[2]) - (x3[1] - x3[2]) ** 2 * (y3[1] - y3[0])
    t2 = (x3[1] - x3[0]) * (y3[1] - y3[2]) - (x3[1] - x3[2]) * (y3[1] - y3[0])
    new = x3[1] - 0.5 * t1 / t2
    if new < x3[0] or new > x3[2] or (n > 4 and (new - x[-1]) > 0.5 * abs(x[-2] - x[-3])):
        if x3[1] - x3[0] > x3[2] - x3[1]:
            return x3[1] - 0.38 * (x3[1] - x3[0])
        return x3[1] + 0.32 * (x3[2] - x3[1])
    return new


def _next_theta(hist):
    """R's frailty.controlgam after fit number len(hist): (new theta, done)."""
    th = np.array([h[0] for h in hist])
    cl = np.array([h[2] for h in hist])
    k = len(hist)
    if k == 1:
        return 1.0, False
    if k == 2:
        return (th.mean() if cl[1] < cl[0] + 1 else 2 * th[1]), False
    done = abs(1 - cl[-1] / cl[-2]) < _EPS_OUTER
    if cl[-1] == cl.max() and th[-1] == th.max():
        return 2 * th.max(), done
    return _brent(np.sqrt(th), cl, lower=0) ** 2, done


def _check(data, duration, event, covariates, cluster, ties, theta):
    if ties not in ("efron", "breslow"):
        raise ValueError("ties must be 'efron' or 'breslow'")
    cols = [duration, event, cluster, *covariates]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise ValueError(f"columns not in data: {missing}")
    if not covariates:
        raise ValueError("at least one covariate is needed")
    na = [c for c in cols if data[c].isna().any()]
    if na:
        raise ValueError(f"missing values in model columns {na}")
    if len(data) == 0:
        raise ValueError("no rows")
    t = pd.to_numeric(data[duration], errors="raise").to_numpy(float)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"{duration} must be finite and > 0")
    e = data[event].to_numpy()
    if not np.all(np.isin(e, (0, 1))):
        raise ValueError(f"{event} must be 0/1 (or False/True)")
    if e.sum() == 0:
        raise ValueError("no events")
    X = data[covariates].to_numpy(float)
    if not np.all(np.isfinite(X)):
        raise ValueError("covariates must be finite numbers")
    const = [c for c, sd in zip(covariates, X.std(axis=0)) if sd == 0]
    if const:
        raise ValueError(f"covariates without variation: {const}")
    n_clusters = data[cluster].nunique()
    if n_clusters < 2:
        raise ValueError(f"a frailty model needs at least 2 clusters; {cluster} has {n_clusters}")
    if n_clusters <= 5:
        raise ValueError(f"{cluster} has {n_clusters} clusters; with 5 or fewer R uses a dense (non-sparse) "
                         "frailty computation, which is not implemented here")
    if theta is not None and not (np.isfinite(theta) and theta >= 0):
        raise ValueError("theta must be a finite number >= 0")
    return t, e.astype(float), X


def fit_frailty_cox(data: pd.DataFrame, duration: str, event: str, covariates: list[str], cluster: str,
                    ties: str = "efron", theta: float | None = None, outer_max: int = _OUTER_MAX) -> FrailtyCoxResult:
    """Fit a Cox model with a shared gamma frailty per ``cluster``, as R's
    ``coxph(Surv(duration, event) ~ covariates + frailty(cluster), ties = ties)``.

    Parameters
    ----------
    data : one row per subject; ``duration`` > 0, ``event`` 0/1, numeric ``covariates`` (dummy-code
        categorical ones), ``cluster`` any hashable labels (more than 5 clusters, as R's sparse fit).
    ties : "efron" (default, as R) or "breslow".
    theta : fix the frailty variance (``frailty(cluster, theta = ...)``); 0 gives the ordinary Cox
        model. Default None estimates it by R's I-likelihood search (``method = "em"``).
    outer_max : most values of theta the search tries (default 100: to convergence). R's
        ``coxph.control(outer.max = 10)`` often stops without meeting its tolerance; pass
        ``outer_max=10`` to reproduce R's default path. A search that stops early gives a
        RuntimeWarning and ``converged`` False.

    Returns a :class:`FrailtyCoxResult`. Raises ValueError on missing values, non-positive times,
    non-binary events or fewer than 6 clusters.
    """
    covariates = list(covariates)
    t, e, X = _check(data, duration, event, covariates, cluster, ties, theta)
    if int(outer_max) < 1:
        raise ValueError("outer_max must be at least 1")
    labels, grp = np.unique(data[cluster].to_numpy(), return_inverse=True)
    ds = _Design(t, e, X, grp, len(labels), ties)
    p = X.shape[1]
    beta, f = np.zeros(p), np.zeros(len(labels))
    th = 0.0 if theta is None else float(theta)
    hist, saved, n_inner, inner_failed = [], [], 0, []
    done, diverged = False, None
    for outer in range(1, outer_max + 1):
        b, fr, plik, var, it, ok = _inner(ds, beta, f, th)
        n_inner += it
        if not ok:
            inner_failed.append(outer)
        if not (np.isfinite(plik) and np.isfinite(b).all() and np.isfinite(var).all()):
            # Newton steps that ran off (an ill-conditioned information: e.g. 26 terms with 46 clusters on
            # one calibration trial) leave no likelihood to compare: the search stops, not converged, and
            # the result is the last finite fit (R's coxph stops with an error here)
            diverged = th
            if not hist:
                raise NotEstimable("the frailty model's Newton iterations gave a non-finite likelihood at theta = 0")
            hist.append((th, np.nan, np.nan))
            th, b, fr, plik, var = saved[-1]
            ok = False
            break
        clik = plik + (_gammacon(ds.d_group, 1 / th) if th > 0 else 0.0)
        hist.append((th, plik, clik))
        saved.append((th, b, fr, plik, var))
        if theta is not None:
            done = True
            break
        new_th, done = _next_theta(hist)
        if done:
            break
        # start the next fit from the fit whose theta was closest (first one on ties), as R
        close = int(np.argmin([(s[0] - new_th) ** 2 for s in saved]))
        beta, f, th = saved[close][1], saved[close][2], new_th
    if diverged is not None:
        warnings.warn(f"the fit at theta = {diverged:.4g} gave a non-finite likelihood (Newton steps ran off); the "
                      f"search for theta stopped at the fit before it (theta = {th:.4g}), not converged",
                      RuntimeWarning, stacklevel=2)
    elif not done:
        warnings.warn(f"the search for theta stopped after {outer_max} fits without meeting its tolerance "
                      "(R's coxph stops there too, silently); raise outer_max to let it finish",
                      RuntimeWarning, stacklevel=2)
    if not ok:
        warnings.warn(f"Newton iterations did not converge in {_ITER_MAX} steps", RuntimeWarning, stacklevel=2)
    th_fit = th if diverged is not None else hist[-1][0]
    penalty = (1 / th_fit) * fr.sum() if th_fit > 0 else 0.0
    names = pd.Index(covariates)
    return FrailtyCoxResult(
        params=pd.Series(b, index=names), bse=pd.Series(np.sqrt(np.diag(var)), index=names),
        _cov=pd.DataFrame(var, index=names, columns=names), theta=th_fit,
        frailties=pd.Series(fr, index=pd.Index(labels, name=cluster)), llf=float(plik - penalty),
        penalized_loglik=float(plik), marginal_loglik=float(hist[-1 if diverged is None else -2][2]),
        nobs=len(t), n_events=int(e.sum()),
        n_clusters=len(labels), converged=bool(done and ok), n_iter=outer, n_inner=n_inner,
        inner_failed=inner_failed, ties=ties, history=pd.DataFrame(hist, columns=["theta", "loglik", "c_loglik"]),
        theta_at_boundary=bool(theta is None and (th_fit < 1e-5 or hist[int(np.nanargmax([h[2] for h in hist]))][0] == 0)))
