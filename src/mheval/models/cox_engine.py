"""A vectorized Cox proportional-hazards fitter (Efron or Breslow ties) with cluster-robust errors.

Why it exists: at the trial's size (about 219,000 beneficiaries, 2,000 distinct event days) the
robust (sandwich) variance of lifelines' CoxPHFitter took 12.5 minutes per fit and statsmodels'
PHReg did not finish in 10 minutes (benchmarks/results/pipeline_scale1.json): both loop in Python
over event times. Here every risk-set sum is a cumulative sum over the rows sorted by time, so a
Newton step costs O(n p^2) array work and no Python loop runs over subjects or event times. It
reproduces R survival's coxph (coefficients, model-based and cluster-robust standard errors, log
partial likelihood, Efron and Breslow ties) to 8 or more significant digits, and lifelines'
coefficients and model-based errors to 1e-6 (tests/test_cox_engine.py; R reference values from
benchmarks/r/coxph_reference.R).

Conventions, as in R's coxph and lifelines: the risk set at time t is every subject with time >= t;
Efron's approximation for tied event times; the robust variance is Lin and Wei's (1989) sandwich
H^-1 (sum over clusters of U_g U_g') H^-1 built from score residuals U_i.

Optional case weights (``weights=``, as R's ``coxph(weights=)``: frequency weights, e.g. the number
of times a subject's organization is drawn in a cluster bootstrap) and entry times (``start=``, as
R's ``Surv(start, stop, event)``: the risk set at t is every row with start < t <= stop). With
entry times each risk-set sum is the reverse cumulative sum over rows ordered by exit time minus
the one over rows ordered by entry time, so still no loop over subjects or event times. The
information matrix is assembled as one weighted cross-product X' diag(w_i C_i) X (C_i: the sum
over the event times at which row i is at risk of 1/denominator) minus the mean-outer-product
terms, with no p x p array per event time. As in R,
under Efron ties a weighted death time with d deaths contributes d terms, each weighted by the
mean case weight of those deaths (so weights equal duplication exactly only without ties or with
Breslow ties); the robust variance uses score residuals multiplied by the case weights. Rows with
weight 0 are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CoxFit:
    """Raw result of :func:`fit_cox`, as arrays in the column order of X (the named results with the
    full interface are :class:`mheval.models.marginal_cox.CoxResult` and
    :class:`mheval.models.frailty_cox.FrailtyCoxResult`): ``params``; ``cov_params()`` the
    model-based covariance (inverse information) and ``robust_cov`` the cluster-robust one (None
    without clusters); ``llf``/``llnull`` the log partial likelihood at ``params`` and at 0;
    ``nobs`` the rows used (weight > 0)."""

    params: np.ndarray
    _cov: np.ndarray
    robust_cov: np.ndarray | None
    llf: float
    llnull: float
    nobs: int
    n_iter: int
    converged: bool

    def cov_params(self) -> np.ndarray:
        """Model-based covariance of the coefficients (R's ``fit$naive.var`` with clusters)."""
        return self._cov


class RiskSets:
    """Sorted data and the per-event-time sums that every quantity is built from.

    Rows are sorted by exit time (``t``); with entry times, ``entry`` holds them in the same
    order and ``eorder``/``estart`` locate the rows that entered at or after each event time
    (those are subtracted from every risk-set sum). ``cw`` are the case weights (ones by
    default), ``wtave`` the mean case weight of the deaths at each event time.
    """

    def __init__(self, time: np.ndarray, event: np.ndarray, X: np.ndarray, weights=None, entry=None):
        order = np.argsort(time, kind="stable")
        self.order = order
        self.t = np.asarray(time, float)[order]
        self._d_all = np.asarray(event, bool)[order]
        self.X = np.asarray(X, float)[order]
        self.weighted = weights is not None
        self.entry = self.eorder = None
        if entry is not None:
            self.entry = np.asarray(entry, float)[order]
            if np.any(self.entry >= self.t):
                raise ValueError("every start time must be before its stop time")
            # entry order; None when the rows in exit order are already in entry order (e.g. strata as
            # time windows of their own): then no row is gathered
            eorder = np.argsort(self.entry, kind="stable")
            self.eorder = None if np.all(np.diff(self.entry) >= 0) else eorder
        self._Xe = None  # X in entry order, gathered on first use
        self._index(np.ones(len(self.t)) if weights is None else np.asarray(weights, float)[order])

    def _index(self, cw: np.ndarray) -> None:
        """Event times and risk-set positions under the case weights ``cw`` (in time order): a death
        with weight 0 is no death (as a row left out)."""
        self.cw = cw
        self.d = self._d_all & (cw > 0)
        self.ut = np.unique(self.t[self.d])  # distinct event times
        # first row (in time order) of each event time's risk set, and each death's event-time index
        self.start = np.searchsorted(self.t, self.ut, side="left")
        self.death_j = np.searchsorted(self.ut, self.t[self.d])
        self.n_dead = np.bincount(self.death_j, minlength=len(self.ut)).astype(float)
        self.dead_wt = np.bincount(self.death_j, weights=self.cw[self.d], minlength=len(self.ut))
        self.wtave = self.dead_wt / self.n_dead
        # number of event times <= each row's exit time (and, below, <= its entry time)
        self.k_exit = np.searchsorted(self.ut, self.t, side="right")
        self.estart = self.k_entry = None
        if self.entry is not None:
            # rows (in entry order) with entry >= t_j are not at risk at t_j (risk set: entry < t <= exit)
            self.estart = np.searchsorted(self._entry_view(self.entry), self.ut, side="left")
            self.k_entry = np.searchsorted(self.ut, self.entry, side="right")

    def reweighted(self, weights: np.ndarray) -> "RiskSets":
        """The same rows under other case weights (given in the original row order, >= 0; rows with
        weight 0 are left out, the others kept in their sorted order), without sorting again: e.g. a
        cluster-bootstrap replicate's frequency weights. ``order`` maps the kept rows to the original ones."""
        cw = np.asarray(weights, float)[self.order]
        keep = np.flatnonzero(cw > 0)
        new = object.__new__(RiskSets)
        new.__dict__.update(self.__dict__)
        new.weighted = True
        new.order, new.t, new._d_all, new.X = self.order[keep], self.t[keep], self._d_all[keep], self.X[keep]
        new._Xe = None
        if self.entry is not None:
            new.entry = self.entry[keep]
            new.eorder = None if self.eorder is None else np.argsort(new.entry, kind="stable")
        new._index(cw[keep])
        return new

    def _entry_view(self, v: np.ndarray) -> np.ndarray:
        """v (in exit order) in entry order."""
        return v if self.eorder is None else v[self.eorder]

    def risk_sum(self, v: np.ndarray, v_entry_order: np.ndarray | None = None) -> np.ndarray:
        """sum over the risk set of each event time of the rows of v (n or n x k); with entry
        times, ``v_entry_order`` may give v[eorder] when the caller has it."""
        if self.entry is not None and self.eorder is None:  # entry order = exit order: one pass over v
            at_start, at_entry = _reverse_sum_at(v, self.start, self.estart)
            return at_start - at_entry
        out = _reverse_sum_at(v, self.start)
        if self.entry is not None:
            ve = self._entry_view(v) if v_entry_order is None else v_entry_order
            out = out - _reverse_sum_at(ve, self.estart)
        return out

    def sums(self, beta: np.ndarray, second: bool):
        """Risk-set sums S0, S1 (and S2) and death sums D0, D1 (and D2) at each event time.

        ``w`` (returned) is case weight x exp(eta - max eta)."""
        eta = self.X @ beta
        eta_max = eta.max()
        w = self.cw * np.exp(eta - eta_max)  # scaled for stability; the scale cancels in every ratio
        wx = w[:, None] * self.X
        if self.entry is None or self.eorder is None:
            S0, S1 = self.risk_sum(w), self.risk_sum(wx)
        else:
            if self._Xe is None:
                self._Xe = self._entry_view(self.X)
            we = self._entry_view(w)
            S0, S1 = self.risk_sum(w, we), self.risk_sum(wx, we[:, None] * self._Xe)
        J = len(self.ut)
        dw, dwx = w[self.d], wx[self.d]
        D0 = np.bincount(self.death_j, weights=dw, minlength=J)
        D1 = _segment_sum(dwx, self.death_j, J)
        S2 = D2 = None
        if second:
            S2 = reverse_segment_outer(w, self.X, self.start)
            if self.entry is not None:
                S2 = S2 - reverse_segment_outer(self._entry_view(w), self._entry_view(self.X), self.estart)
            Xd = self.X[self.d]
            D2 = _segment_sum((dw[:, None] * Xd)[:, :, None] * Xd[:, None, :], self.death_j, J)
        return eta, eta_max, w, S0, S1, S2, D0, D1, D2

    def efron_expand(self, ties: str):
        """For each event time j and each l = 0..d_j-1: (j, fraction l/d_j) (Breslow: fraction 0)."""
        d = self.n_dead.astype(int)
        j = np.repeat(np.arange(len(d)), d)
        l = np.arange(d.sum()) - np.repeat(np.cumsum(d) - d, d)
        frac = l / d[j] if ties == "efron" else np.zeros(len(j))
        return j, frac


def _reverse_sum_at(v: np.ndarray, idx: np.ndarray, *more: np.ndarray):
    """sum of the rows v[r] for r >= idx[j], for nondecreasing idx (repeats and n allowed): sums over
    the segments between successive indices (reduceat), then a reverse cumulative sum over them.
    With ``more`` index arrays, one pass over v serves all of them (a tuple of results)."""
    n = len(v)
    allidx = idx if not more else np.concatenate([idx, *more])
    u, inv = np.unique(allidx, return_inverse=True)
    out = np.zeros((len(u),) + v.shape[1:])
    valid = u < n
    if valid.any():
        seg = np.add.reduceat(v, u[valid], axis=0)
        out[valid] = np.cumsum(seg[::-1], axis=0)[::-1]
    if not more:
        return out[inv]
    ends = np.cumsum([len(idx)] + [len(m) for m in more])
    return tuple(out[inv[lo:hi]] for lo, hi in zip(np.r_[0, ends[:-1]], ends))


def _segment_sum(v: np.ndarray, seg: np.ndarray, J: int) -> np.ndarray:
    """Sum the rows of v by a nondecreasing segment index seg (0..J-1); empty segments are 0."""
    out = np.zeros((J,) + v.shape[1:])
    if len(seg) == 0:
        return out
    first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    out[seg[first]] = np.add.reduceat(v, first, axis=0)
    return out


def reverse_segment_outer(w, X, start, chunk=20000):
    """sum over rows r >= start[j] of w_r x_r x_r' for each j, without an n x p x p array.

    ``start`` is nondecreasing (values may repeat or equal n, meaning an empty sum)."""
    n, p = X.shape
    J = len(start)
    seg = np.zeros((J, p * p))
    if J == 0:
        return seg.reshape(J, p, p)
    # rows before the first start are never in a risk set that matters
    for lo in range(int(start[0]), n, chunk):
        hi = min(n, lo + chunk)
        k = np.searchsorted(start, np.arange(lo, hi), side="right") - 1  # last segment starting at or before the row
        outer = ((w[lo:hi, None] * X[lo:hi])[:, :, None] * X[lo:hi, None, :]).reshape(hi - lo, p * p)
        first = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        seg[k[first]] += np.add.reduceat(outer, first, axis=0)
    return np.cumsum(seg[::-1], axis=0)[::-1].reshape(J, p, p)


def loglik_grad_hess(rs: RiskSets, beta: np.ndarray, ties: str, hess: bool = True):
    """Log partial likelihood, its gradient and (with ``hess``) information matrix at ``beta`` for
    the data of ``rs`` with Efron or Breslow ``ties``; also returns the risk-set parts the score
    residuals are built from: (loglik, gradient, information or None, parts)."""
    eta, eta_max, w, S0, S1, _, D0, D1, _ = rs.sums(beta, False)
    j, frac = rs.efron_expand(ties)
    den = S0[j] - frac * D0[j]
    num1 = S1[j] - frac[:, None] * D1[j]
    xbar = num1 / den[:, None]
    if rs.weighted:
        wt = rs.wtave[j]  # each of the d_j terms weighted by the deaths' mean case weight (R's coxph)
        cwd = rs.cw[rs.d]
        loglik = np.sum(cwd * eta[rs.d]) - np.sum(wt * (np.log(den) + eta_max))
        grad = cwd @ rs.X[rs.d] - wt @ xbar
    else:
        wt = np.ones(len(j))
        loglik = eta[rs.d].sum() - np.sum(np.log(den) + eta_max)
        grad = rs.X[rs.d].sum(axis=0) - xbar.sum(axis=0)
    H = None
    if hess:
        # information = sum over terms l of wt_l [(S2_j - frac_l D2_j) / den_l - xbar_l xbar_l'].
        # sum_l wt_l S2_j / den_l = sum_r w_r x_r x_r' C_r with C_r the sum of c_j = sum_l wt_l / den_l
        # over the event times at which row r is at risk: one weighted cross-product X' diag(w C) X,
        # no per-event-time p x p arrays (likewise for the Efron D2 part over the deaths).
        J = len(rs.ut)
        h = wt / den
        cum = np.r_[0.0, np.cumsum(np.bincount(j, weights=h, minlength=J))]
        C = cum[rs.k_exit]
        if rs.entry is not None:
            C = C - cum[rs.k_entry]
        Xs = rs.X * np.sqrt(np.maximum(w * C, 0.0))[:, None]  # X' diag(w C) X as Xs' Xs (a symmetric product: half the work)
        H = Xs.T @ Xs - (wt[:, None] * xbar).T @ xbar
        if ties == "efron":
            f = np.bincount(j, weights=h * frac, minlength=J)[rs.death_j] * w[rs.d]
            Xd = rs.X[rs.d]
            H -= (Xd * f[:, None]).T @ Xd
    return loglik, grad, H, (w, S0, S1, D0, D1, j, frac, den, xbar, wt)


def score_residuals(rs: RiskSets, beta: np.ndarray, ties: str, parts) -> np.ndarray:
    """Score residuals U_i (rows in rs's time order) for Efron or Breslow ties, vectorized.

    U_i = delta_i (x_i - mean_l xbar_jl) - sum over event times t_j in (entry_i, t_i] of
    c_ij r_i (x_i - xbar_jl) wbar_j / den_jl summed over l, where c_ij = 1 - l/d_j for a subject
    dying at t_j (Efron) and 1 otherwise, r_i = exp(eta_i) and wbar_j the mean case weight of the
    deaths at t_j; with case weights the residuals are multiplied by them (R's
    ``residuals(fit, "score", weighted = TRUE)``, which the robust variance uses).
    """
    w, j, frac, den, xbar = parts[0], *parts[5:9]
    wt = parts[9] if len(parts) > 9 else np.ones(len(j))
    J = len(rs.ut)
    p = rs.X.shape[1]
    h = wt / den
    H_all = np.bincount(j, weights=h, minlength=J)
    G_all = _segment_sum(xbar * h[:, None], j, J)
    c = 1.0 - frac
    H_dead = np.bincount(j, weights=c * h, minlength=J)
    G_dead = _segment_sum(xbar * (c * h)[:, None], j, J)
    xbar_mean = _segment_sum(xbar, j, J) / rs.n_dead[:, None]
    # cumulative hazard-type sums over event times strictly before each subject's time
    cumH = np.r_[0.0, np.cumsum(H_all)]
    cumG = np.vstack([np.zeros((1, p)), np.cumsum(G_all, axis=0)])
    k = np.searchsorted(rs.ut, rs.t, side="left")  # event times strictly before t_i: 0..k-1
    A = cumH[k].copy()
    B = cumG[k].copy()
    at = (k < J) & (rs.ut[np.minimum(k, J - 1)] == rs.t)  # subject's time is an event time
    jj = k[at]
    dead_here = rs.d[at]
    A[at] += np.where(dead_here, H_dead[jj], H_all[jj])
    B[at] += np.where(dead_here[:, None], G_dead[jj], G_all[jj])
    if rs.entry is not None:  # event times at or before entry: not at risk
        ke = np.searchsorted(rs.ut, rs.entry, side="right")
        A -= cumH[ke]
        B -= cumG[ke]
    U = -(w[:, None] * (rs.X * A[:, None] - B))  # w = case weight x exp(eta - max): the scale cancels with den's
    dead = np.flatnonzero(rs.d)
    U[dead] += rs.cw[dead, None] * (rs.X[dead] - xbar_mean[rs.death_j])
    return U


def newton_cox(rs: RiskSets, init, ties: str = "efron", tol: float = 1e-9, max_iter: int = 50,
               accept_step: float | None = None):
    """Maximize the log partial likelihood of ``rs`` by Newton-Raphson with step halving, from
    ``init`` (None: 0). Stops when the log likelihood changes by less than ``tol`` (relative) and no
    coefficient moves by 1e-7 or more. Returns (beta, loglik, information, parts, iterations,
    converged); :func:`fit_cox` and the bootstrap replicates (one :class:`RiskSets`, reweighted) share it.

    ``accept_step``: take a full Newton step and stop without evaluating the new point when the
    error it leaves is below this: Newton's convergence is quadratic, e_{k+1} = c e_k^2, so with c
    estimated from the last two steps (|step_k| / |step_{k-1}|^2) the error left after step k is
    about c |step_k|^2 (and a step itself below ``accept_step`` is taken at once). For refits started
    near the optimum (bootstrap replicates): one evaluation fewer. ``loglik``, information and parts
    are then those of the last evaluated point.

    Monotone likelihood (a covariate separating the events) is not convergence: as the coefficient runs
    off, its information and score vanish together and can round to zero, so the step "converges" at
    an arbitrary large value (whether it does depends on the floating point of the machine). A fit
    whose information for some coefficient has fallen below 1e-8 of its value at the start is
    therefore reported as not converged."""
    beta = np.zeros(rs.X.shape[1]) if init is None else np.asarray(init, float).copy()
    ll, grad, H, parts = loglik_grad_hess(rs, beta, ties)
    info0 = np.abs(np.diag(H))  # the information at the start, per coefficient
    converged, it = False, 0
    last = None  # size of the previous full step
    for it in range(1, max_iter + 1):
        step = np.linalg.solve(H, grad)
        new = beta + step
        size = float(np.max(np.abs(step))) if len(step) else 0.0
        if accept_step is not None and np.isfinite(size):
            # c |step|^2, c = |step| / last^2; in float64, where a diverging replicate's step (1e100 and up)
            # overflows to inf instead of raising OverflowError as Python floats do
            with np.errstate(over="ignore"):
                left = size if last is None else min(size, np.float64(size) ** 3 / np.float64(last) ** 2)
            if size < accept_step or left < accept_step:
                return new, ll, H, parts, it, True
        last = size
        ll_new, g_new, H_new, parts_new = loglik_grad_hess(rs, new, ties)
        halvings = 0
        # halve on a real decrease only, not on rounding noise (about 1e-15 |ll| per term summed)
        while (not np.isfinite(ll_new) or ll_new < ll - 1e-11 * (1 + abs(ll))) and halvings < 30:
            step /= 2
            new = beta + step
            ll_new, g_new, H_new, parts_new = loglik_grad_hess(rs, new, ties)
            halvings += 1
        if halvings:
            last = None  # a halved step says nothing about the quadratic rate
        done = abs(ll_new - ll) < tol * (1 + abs(ll)) and np.max(np.abs(step)) < 1e-7
        beta, ll, grad, H, parts = new, ll_new, g_new, H_new, parts_new
        if done:
            flat = (info0 > 0) & (np.abs(np.diag(H)) < 1e-8 * info0)
            converged = not flat.any()
            break
    return beta, ll, H, parts, it, converged


class ReplicateStart:
    """Starting coefficients for refits of the rows of ``rs`` under other case weights (bootstrap
    replicates): the full-data estimate ``beta`` plus the full-data inverse information times the
    weighted sum of the score residuals, beta + H^-1 sum_i w_i U_i (the replicate's estimate to first
    order, since sum_i U_i = 0 at ``beta``): about one Newton step closer than ``beta`` itself, so a
    replicate needs one evaluation fewer. Only the start changes: the refit converges to the same
    estimate."""

    def __init__(self, rs: RiskSets, beta, ties: str = "efron"):
        self.beta = np.asarray(beta, float)
        _, _, self.H, parts = loglik_grad_hess(rs, self.beta, ties)
        self.U = score_residuals(rs, self.beta, ties, parts)  # rows in rs's time order
        self.order = rs.order

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """The start for case weights ``weights`` (original row order); for an n x m matrix of
        weights (one replicate a column), the m starts as rows."""
        w = np.asarray(weights, float)
        step = np.linalg.solve(self.H, self.U.T @ w[self.order])
        return self.beta + (step if w.ndim == 1 else step.T)


def fit_cox(time, event, X, cluster=None, ties: str = "efron", tol: float = 1e-9, max_iter: int = 50, *,
            weights=None, start=None, init=None) -> CoxFit:
    """Fit a Cox model by Newton-Raphson with step halving.

    Parameters
    ----------
    time, event : follow-up (exit) times (> 0) and event indicators (1 event, 0 censored).
    X : n x p covariate matrix (no intercept).
    cluster : optional cluster labels; if given, the robust (sandwich) covariance is computed.
    ties : "efron" (default, as R and lifelines) or "breslow".
    weights : optional case (frequency) weights >= 0, as R's ``coxph(weights=)``; rows with weight
        0 are dropped.
    start : optional entry times for counting-process rows (start, stop]: the row is at risk at t
        when start < t <= time, as R's ``Surv(start, time, event)``.
    init : optional starting coefficients (e.g. the full-sample estimate in a bootstrap).
    """
    if ties not in ("efron", "breslow"):
        raise ValueError("ties must be 'efron' or 'breslow'")
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    if weights is not None:
        weights = np.asarray(weights, float)
        if np.any(weights < 0) or not np.all(np.isfinite(weights)):
            raise ValueError("weights must be finite and >= 0")
        if np.any(weights == 0):
            keep = weights > 0
            time, event, X, weights = np.asarray(time)[keep], np.asarray(event)[keep], X[keep], weights[keep]
            cluster = None if cluster is None else np.asarray(cluster)[keep]
            start = None if start is None else np.asarray(start)[keep]
    rs = RiskSets(time, event, X, weights=weights, entry=start)
    p = X.shape[1]
    ll0 = loglik_grad_hess(rs, np.zeros(p), ties, hess=False)[0]
    beta, ll, H, parts, it, converged = newton_cox(rs, init, ties, tol, max_iter)
    cov = np.linalg.inv(H)
    robust = None
    if cluster is not None:
        U = score_residuals(rs, beta, ties, parts)
        g = np.asarray(cluster)[rs.order]
        _, gi = np.unique(g, return_inverse=True)
        Ug = np.zeros((gi.max() + 1, p))
        np.add.at(Ug, gi, U)
        robust = cov @ (Ug.T @ Ug) @ cov
    return CoxFit(params=beta, _cov=cov, robust_cov=robust, llf=float(ll), llnull=float(ll0), nobs=len(rs.t),
                  n_iter=it, converged=converged)


def breslow_cumhaz(time, event, X, beta, *, weights=None, start=None, ties: str = "breslow"):
    """Baseline cumulative hazard at x = 0 of a fitted Cox model, at its distinct event times.

    ``ties="breslow"``: Breslow's estimator, sum over event times <= t of (weighted deaths) /
    sum over the risk set of w_i exp(x_i beta) (R's ``survfit(fit, ctype = 1)``); ``"efron"``:
    Efron's correction (``ctype = 2``). Returns (event times, cumulative hazard).
    """
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    if weights is not None and np.any(np.asarray(weights) == 0):  # weight 0: row left out
        keep = np.asarray(weights) > 0
        time, event, X, weights = np.asarray(time)[keep], np.asarray(event)[keep], X[keep], np.asarray(weights)[keep]
        start = None if start is None else np.asarray(start)[keep]
    rs = RiskSets(time, event, X, weights=weights, entry=start)
    return rs.ut, np.cumsum(baseline_increments(rs, beta, ties))


def baseline_increments(rs: RiskSets, beta, ties: str = "breslow") -> np.ndarray:
    """Increments of the baseline cumulative hazard (x = 0) at the event times ``rs.ut``: Breslow's
    (weighted deaths over the risk set's sum of w_i exp(x_i beta)) or Efron's (see :func:`breslow_cumhaz`)."""
    eta = rs.X @ np.asarray(beta, float)
    r = rs.cw * np.exp(eta)
    S0 = rs.risk_sum(r)
    if ties == "breslow":
        return rs.dead_wt / S0
    if ties == "efron":
        D0 = np.bincount(rs.death_j, weights=r[rs.d], minlength=len(rs.ut))
        j, frac = rs.efron_expand("efron")
        return np.bincount(j, weights=rs.wtave[j] / (S0[j] - frac * D0[j]), minlength=len(rs.ut))
    raise ValueError("ties must be 'breslow' or 'efron'")
