"""Cumulative incidence with death as a competing risk (Aalen-Johansen), unadjusted and standardized.

A beneficiary's status at the end of follow-up is 1 (the event), 2 (the competing event: death
without the event) or 0 (censored: loss of fee-for-service coverage or end of follow-up). The
cumulative incidence of the event, F1(t) = P(event by t), counts a death without the event as
ending the chance of an event, not as censoring (1 - S does the latter and overstates the risk).

**Unadjusted** (:func:`aalen_johansen`), by arm: at each distinct time t_j with n_j at risk, d1_j
events and d2_j competing deaths,

    S(t_j) = prod_{l <= j} (1 - (d1_l + d2_l) / n_l),     F_k(t) = sum_{t_j <= t} S(t_{j-1}) d_k_j / n_j,

as R's ``cmprsk::cuminc`` and ``survfit(Surv(T, factor(status)) ~ 1)`` (the multi-state
Aalen-Johansen estimator); with (frequency) weights, every count is a sum of weights.

**Standardized** across arms (:func:`standardized_competing_incidence`): one cause-specific Cox
model per cause (event; death without the event), each with the adjustment covariates and a
baseline hazard of its own per arm (stratified by arm: the arms' hazards need not be proportional),
Efron ties, Breslow baseline increments dA_k,a(t). Every beneficiary i of the analyzed population,
set to arm a, has the hazard increments r_k,i dA_k,a(t) with r_k,i = exp(x_i' beta_k), and the
Aalen-Johansen product of the two gives their cumulative incidence

    F1_i,a(t) = sum_{t_j <= t} S_i,a(t_{j-1}) r_1,i dA_1,a(t_j),   S_i,a(t_j) = prod_{l <= j} (1 - r_1,i dA_1,a(t_l) - r_2,i dA_2,a(t_l));

the standardized cumulative incidence of arm a is the mean of F1_i,a over the population (the same
covariate mix in both arms), the difference is intervention minus control. This is R's
``coxph(Surv(T, status == k) ~ x + strata(MH))`` for k = 1, 2 and ``survfit(fit, newdata, ctype = 1)``
for each beneficiary's cumulative hazards, combined by the same product. Without covariates it is
the unadjusted estimate of each arm exactly.

Uncertainty: percentile bands from the cluster bootstrap over organizations, resampled within arm
(:func:`mheval.models.adjusted_incidence.cluster_bootstrap_counts`, seeded), both estimates
recomputed on every replicate as frequency-weighted fits (:func:`competing_bootstrap`). A replicate is
a reweighting of the original rows, sorted once (:class:`CompetingBootstrap`): the cause-specific fits
of a block of replicates run together (:class:`mheval.models.cox_replicates.ReplicateFits`: every
risk-set sum a product over the rows with the replicates as columns), each started from the linear
approximation of its estimate, one or two Newton steps;
the baseline increments are risk-set sums over the shared sorted order; the standardization
interpolates each beneficiary's product over the relative hazards (:func:`_mean_prefix_survival`,
cost n x K instead of n x J); the unadjusted estimate sums weighted counts per distinct time (per
organization once, then the replicate's organization counts times those tables). Each
replicate equals the direct weighted refit to 1e-10 (tests/test_competing_risks.py).

A follow-up year is **not estimable** (a reason, never a number) when an arm has fewer than
``min_at_risk`` beneficiaries still at risk at that time, or fewer than ``min_events`` events by it
(below ``report.min_cell`` the incidence times the arm's size would give a small count away).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.adjusted_incidence import MAX_FAILED_SHARE, GroupRanges, cluster_bootstrap_counts, percentile_band
from mheval.models.cox_engine import ReplicateStart, RiskSets, baseline_increments, breslow_cumhaz, fit_cox, newton_cox
from mheval.models.cox_replicates import ReplicateFits, replicate_block, reuse_freed_memory
from mheval.models.estimability import NotEstimable
from mheval.models.interpolation import chebyshev_degree, chebyshev_nodes, node_weights
from mheval.progress import LoopProgress

logger = logging.getLogger(__name__)
# a replicate's Newton iterations stop once the error left in a coefficient is below this
# (:func:`mheval.models.cox_engine.newton_cox`); the incidence moves by far less (tests: 1e-10)
ACCEPT_STEP = 1e-8
ARMS = {1: "intervention", 0: "control"}
METHODS = {"standardized": "Aalen-Johansen, standardized from cause-specific Cox models (death a competing risk)",
           "unadjusted": "Aalen-Johansen, unadjusted (death a competing risk)"}


def competing_status(event: np.ndarray, died: np.ndarray, t_event: np.ndarray, t_death: np.ndarray) -> np.ndarray:
    """Status 1 (event), 2 (death without the event, at the end of the event's follow-up) or 0
    (censored). A death after the event's follow-up ended (e.g. after loss of fee-for-service
    coverage) is not a competing event there: that follow-up is censored."""
    event, died = np.asarray(event, int), np.asarray(died, int)
    same = np.isclose(np.asarray(t_event, float), np.asarray(t_death, float), rtol=0, atol=1e-9)
    return np.where(event == 1, 1, np.where((died == 1) & same, 2, 0))


def aalen_johansen(time, status, times, weights=None) -> np.ndarray:
    """Aalen-Johansen cumulative incidence of cause 1 and cause 2 at ``times``.

    ``status``: 0 censored, 1 or 2 the cause; ``weights``: optional frequency weights. Returns a
    2 x len(times) array (row 0: cause 1, row 1: cause 2), as ``cmprsk::cuminc``."""
    T, st = np.asarray(time, float), np.asarray(status, int)
    w = np.ones(len(T)) if weights is None else np.asarray(weights, float)
    if np.any(~np.isin(st, (0, 1, 2))):
        raise ValueError("status must be 0 (censored), 1 (event) or 2 (competing event)")
    u, j = np.unique(T, return_inverse=True)
    return _aalen_johansen_counts(u, np.bincount(j, weights=w, minlength=len(u)),
                                  [np.bincount(j, weights=w * (st == k), minlength=len(u)) for k in (1, 2)], times)


def _aalen_johansen_counts(u, exits, deaths, times) -> np.ndarray:
    """Aalen-Johansen incidence of both causes at ``times`` from the (weighted) counts at each distinct
    time ``u``: rows leaving the risk set there (``exits``) and ``deaths`` = (cause 1, cause 2)."""
    at_risk_all = np.cumsum(exits[::-1])[::-1]
    d = np.vstack(deaths)
    jump = d.sum(axis=0) > 0
    ut, at_risk, d = u[jump], at_risk_all[jump], d[:, jump]
    S = np.cumprod(1 - d.sum(axis=0) / at_risk)
    inc = np.cumsum(np.r_[1.0, S[:-1]] * d / at_risk, axis=1)
    idx = np.searchsorted(ut, np.asarray(times, float), side="right")
    return np.c_[np.zeros((2, 1)), inc][:, idx]


def _stratified_fit(T, E, X, strata, weights, init, ties="efron"):
    """Cause-specific Cox fit stratified by ``strata`` (codes 0..K-1): each stratum's times are
    shifted to a window of their own and enter there (counting-process rows), so risk sets never
    mix strata and the partial likelihood is the stratified one (as ``strata()`` in R). Returns the
    coefficients and, per stratum, (jump times, Breslow baseline hazard increments at x = 0)."""
    width = float(T.max()) + 1.0
    start = strata * width
    p = X.shape[1]
    beta = np.zeros(p)
    if not E.any():  # a cause without events (all-cause death has no competing event): no hazard
        return beta, {}
    # a column constant in the sample (e.g. in a bootstrap replicate) is not identified: coefficient 0
    use = np.flatnonzero(X.max(axis=0) > X.min(axis=0)) if p else np.zeros(0, int)
    if len(use):
        try:
            fit = fit_cox(T + start, E, X[:, use], weights=weights, start=start,
                          init=None if init is None else np.asarray(init)[use], ties=ties)
        except np.linalg.LinAlgError:
            raise NotEstimable("a cause-specific Cox model has a singular information matrix (too few events of a "
                               "cause for its covariates)") from None
        if not fit.converged or not np.all(np.isfinite(fit.params)):
            raise NotEstimable("a cause-specific Cox model did not converge (monotone likelihood: a covariate may "
                               "separate the events)")
        beta[use] = fit.params
    ut, H = breslow_cumhaz(T + start, E, X if p else np.zeros((len(T), 1)), beta if p else np.zeros(1),
                           weights=weights, start=start)
    dH = np.diff(np.r_[0.0, H])
    s = np.floor(ut / width).astype(int)
    return beta, {k: (ut[s == k] - k * width, dH[s == k]) for k in np.unique(strata)}


def standardized_competing_incidence(time, status, X, arm, times, weights=None, init=None, ties: str = "efron",
                                     chunk: int = 4000, diagnostics: dict | None = None, exact: bool = False):
    """Standardized cumulative incidence of cause 1 under each arm (rows: arm 1, arm 0; columns:
    ``times``) from the two cause-specific Cox models stratified by arm (see the module docstring),
    averaged over every row (weighted by ``weights``). Returns (incidence, (beta_1, beta_2)).

    ``X``: n x p adjustment covariates without the arm (p may be 0); ``arm``: 0/1;
    ``init``: optional starting coefficients (beta_1, beta_2); ``ties``: of the Cox fits ("efron",
    as R's default, or "breslow", under which frequency weights and copied rows coincide exactly).

    A factor 1 - r_1,i dA_1 - r_2,i dA_2 of the product below 0 (one beneficiary's predicted hazard
    larger than the whole risk set's: only where very few remain at risk, or where a fit's
    coefficients run off, as in a bootstrap replicate with separation) has both hazard increments
    scaled to sum to 1: that beneficiary's event-free probability becomes 0 and its cause-1 increment
    is r_1,i dA_1 / (r_1,i dA_1 + r_2,i dA_2), so every incidence stays in [0, 1]; the earliest such
    time goes to ``diagnostics["capped_from"]`` when a dict is given (R's product would leave [0, 1]
    there).

    ``exact``: form every row's product at every jump time (n x J; the reference) rather than
    interpolate it over the rows' relative hazards (:func:`_mean_prefix_survival`; the same to
    about 1e-12)."""
    T, st, arm = np.asarray(time, float), np.asarray(status, int), np.asarray(arm, int)
    X = np.asarray(X, float).reshape(len(T), -1)
    if weights is not None:
        keep = np.asarray(weights) > 0
        T, st, arm, X, weights = T[keep], st[keep], arm[keep], X[keep], np.asarray(weights, float)[keep]
    arms = sorted(np.unique(arm).tolist(), reverse=True)
    betas, base = [], []
    for k in (1, 2):
        b, h = _stratified_fit(T, (st == k).astype(int), X, arm, weights, None if init is None else init[k - 1], ties)
        betas.append(b)
        base.append(h)
    w = np.ones(len(T)) if weights is None else weights
    return _standardize([np.exp(X @ b) for b in betas], w, base, arms, times, exact, diagnostics, chunk), tuple(betas)


def _standardize(r, w, base, arms, times, exact=False, diagnostics=None, chunk=4000) -> np.ndarray:
    """Standardized cumulative incidence of cause 1 under each arm in ``arms`` at ``times``, from each
    row's relative hazards ``r`` = (r_1, r_2), its weight ``w`` (> 0) and each cause's baseline
    increments by arm ``base`` (the formula of the module docstring)."""
    times = np.asarray(times, float)
    out = np.zeros((len(arms), len(times)))
    per_arm = []
    for a in arms:
        ut = np.unique(np.r_[base[0].get(a, (np.zeros(0),))[0], base[1].get(a, (np.zeros(0),))[0]])
        dA = np.zeros((2, len(ut)))
        for k in (0, 1):
            if a in base[k]:
                t_k, d_k = base[k][a]
                dA[k, np.searchsorted(ut, t_k)] = d_k
        per_arm.append((ut, dA))
    # the interpolation's node weights depend on the rows only: one set serves every arm (its degree
    # that of the arm with the largest cumulative hazards)
    nodes = None if exact else _shared_nodes(r[0], r[1], w, [dA for _, dA in per_arm])
    for a_i, (ut, dA) in enumerate(per_arm):
        m1 = _mean_prefix_survival(r[0], r[1], w, dA, ut, exact, diagnostics, chunk, nodes)
        inc = np.cumsum(m1 / w.sum() * dA[0])
        out[a_i] = np.r_[0.0, inc][np.searchsorted(ut, times, side="right")]
    return out


def _shared_nodes(r1, r2, w, dAs):
    """Chebyshev nodes of r_1 and r_2 and the rows' node weights (:func:`mheval.models.interpolation.node_weights`)
    for the baseline increments ``dAs`` of every arm, or None when an arm's factors may reach 0 (or the
    degree would be too high): that arm's product is then formed row by row."""
    dAs = [dA for dA in dAs if dA.shape[1]]
    if not dAs or any(np.max(r1.max() * dA[0] + r2.max() * dA[1]) > 0.5 for dA in dAs):
        return None
    k1 = chebyshev_degree((r1.max() - r1.min()) * max(dA[0].sum() for dA in dAs))
    k2 = chebyshev_degree((r2.max() - r2.min()) * max(dA[1].sum() for dA in dAs))
    if not (k1 and k2):
        return None
    n1, n2 = chebyshev_nodes(r1.min(), r1.max(), k1), chebyshev_nodes(r2.min(), r2.max(), k2)
    return n1, n2, node_weights(w, r1, n1, r2, n2)


def _mean_prefix_survival(r1, r2, w, dA, ut, exact=False, diagnostics=None, chunk=4000, nodes=None) -> np.ndarray:
    """sum_i w_i r_1,i S_i(t_{j-1}) at each jump time t_j (S_i: the product over earlier jumps of
    1 - r_1,i dA_1 - r_2,i dA_2).

    Unless ``exact``, and when no factor can reach 0 (max r_1 dA_1 + max r_2 dA_2 <= 0.5 at every
    jump), the function r_1 S(r_1, r_2, t) is interpolated at Chebyshev points of the rows' ranges of
    r_1 and r_2 (:mod:`mheval.models.interpolation`; degree chosen so that the interpolation error is
    at rounding level): cost n x K per arm instead of n x J. Otherwise (and with ``exact``) every row's
    product is formed, in chunks of ``chunk`` rows. ``nodes``: (nodes of r_1, nodes of r_2, node weights)
    computed once for several arms (:func:`_shared_nodes`)."""
    J = len(ut)
    m1 = np.zeros(J)
    if J == 0:
        return m1
    if not exact and nodes is not None:
        n1, n2, M = nodes
        q = 1.0 - n1[:, None, None] * dA[0] - n2[None, :, None] * dA[1]
        S = np.cumprod(q, axis=2)
        prev = np.concatenate([np.ones((len(n1), len(n2), 1)), S[:, :, :-1]], axis=2)
        return np.einsum("km,k,kmj->j", M, n1, prev)
    if not exact and np.max(r1.max() * dA[0] + r2.max() * dA[1]) <= 0.5:
        k1 = chebyshev_degree((r1.max() - r1.min()) * dA[0].sum())
        k2 = chebyshev_degree((r2.max() - r2.min()) * dA[1].sum())
        if k1 and k2:
            n1, n2 = chebyshev_nodes(r1.min(), r1.max(), k1), chebyshev_nodes(r2.min(), r2.max(), k2)
            M = node_weights(w, r1, n1, r2, n2)  # K1 x K2
            q = 1.0 - n1[:, None, None] * dA[0] - n2[None, :, None] * dA[1]
            S = np.cumprod(q, axis=2)
            prev = np.concatenate([np.ones((len(n1), len(n2), 1)), S[:, :, :-1]], axis=2)
            return np.einsum("km,k,kmj->j", M, n1, prev)
    for lo in range(0, len(r1), chunk):
        r1c, r2c, wc = r1[lo:lo + chunk], r2[lo:lo + chunk], w[lo:lo + chunk]
        q = np.multiply.outer(r1c, -dA[0])  # 1 - r1 dA1 - r2 dA2, built in place (n x J is the cost)
        q -= np.multiply.outer(r2c, dA[1])
        q += 1.0
        wr = wc * r1c
        if q.min() < 0:
            # a beneficiary's predicted hazards exceed the risk set's (r1 dA1 + r2 dA2 > 1): both are
            # scaled to sum to 1 there, so the beneficiary's event-free probability becomes 0 and its
            # incidence stays in [0, 1] (the cause-1 increment r1 dA1 S(t-) shrinks by the same factor)
            first = float(ut[np.flatnonzero((q < 0).any(axis=0))[0]])
            if diagnostics is not None:
                diagnostics["capped_from"] = min(diagnostics.get("capped_from", np.inf), first)
            scale = 1.0 / np.maximum(1.0 - q, 1.0)  # 1 / max(1, r1 dA1 + r2 dA2)
            np.maximum(q, 0.0, out=q)
            S = np.cumprod(q, axis=1)
            prev = np.concatenate([np.ones((len(r1c), 1)), S[:, :-1]], axis=1)  # S_i(t_{j-1})
            m1 += wr @ (prev * scale)
            continue
        np.cumprod(q, axis=1, out=q)  # S_i(t_j)
        m1[0] += wr.sum()
        m1[1:] += wr @ q[:, :-1]  # S_i(t_{j-1})
    return m1


class CompetingBootstrap:
    """Both estimates (unadjusted and standardized) under many frequency-weight vectors of the same
    rows, e.g. the cluster-bootstrap replicates: the data are sorted once (per cause, by arm and time);
    a block of replicates is fitted together (:meth:`standardized_many`, :class:`ReplicateFits`; one
    replicate alone: :meth:`standardized`, which reweights the sorted rows,
    :meth:`mheval.models.cox_engine.RiskSets.reweighted`); the cause-specific Cox fits start from the
    linear approximation of each replicate's estimate; the unadjusted estimate sums weighted counts per
    distinct time (per group, :meth:`unadjusted_groups`). The same numbers as :func:`aalen_johansen` and
    :func:`standardized_competing_incidence` with the weights (tests/test_competing_risks.py).

    A replicate in which a covariate is constant among the drawn rows (its coefficient is then not
    identified and set to 0) is computed by :func:`standardized_competing_incidence` itself; ``group``
    (organization codes 0..G-1) says which rows always share a weight, so that check costs G x p, the
    unadjusted counts come from per-group tables and the fits split off the organization-level columns."""

    def __init__(self, time, status, X, arm, times, ties: str = "efron", group=None):
        self.T, self.st, self.arm = np.asarray(time, float), np.asarray(status, int), np.asarray(arm, int)
        self.X = np.asarray(X, float).reshape(len(self.T), -1)
        self.times, self.ties = np.asarray(times, float), ties
        self.arms = sorted(np.unique(self.arm).tolist(), reverse=True)
        self._starts: dict = {}
        self.ranges = GroupRanges(self.X, np.arange(len(self.T)) if group is None else group)
        self.width = float(self.T.max()) + 1.0
        start = self.arm * self.width
        self.rs = [RiskSets(self.T + start, self.st == k, self.X, entry=start) for k in (1, 2)]
        self.fits = [ReplicateFits(self.T, self.st == k, self.X, strata=self.arm, ties=ties, width=self.width,
                                   group=group) for k in (1, 2)]
        assert all(np.array_equal(f.order, rs.order) for f, rs in zip(self.fits, self.rs))  # one sort
        # the two causes' fits hold the same rows in the same order: one set of pair products (up to 200 MB)
        # and one sorted copy of each block's weights serve both
        self.fits[1].same_rows = self.fits[0]
        self.by_arm = []
        for a in self.arms:
            rows = np.flatnonzero(self.arm == a)
            u, j = np.unique(self.T[rows], return_inverse=True)
            self.by_arm.append((rows, u, j, self.st[rows]))
        # per group (organization codes 0..G-1) and distinct time: rows leaving, events, competing deaths:
        # a replicate's weighted counts are then its group weights times these tables
        self.group_tables = None
        if group is not None:
            g = np.asarray(group, int)
            G = int(g.max()) + 1
            self.group_tables = [
                [np.bincount(g[rows] * len(u) + j, weights=v, minlength=G * len(u)).reshape(G, len(u))
                 for v in (np.ones(len(rows)), (st == 1).astype(float), (st == 2).astype(float))]
                for rows, u, j, st in self.by_arm]

    def unadjusted(self, w: np.ndarray) -> np.ndarray:
        """Aalen-Johansen incidence of cause 1 by arm (rows) at ``times`` with row weights ``w``."""
        out = []
        for rows, u, j, st in self.by_arm:
            wa = w[rows]
            exits = np.bincount(j, weights=wa, minlength=len(u))
            deaths = [np.bincount(j, weights=wa * (st == k), minlength=len(u)) for k in (1, 2)]
            out.append(_aalen_johansen_counts(u, exits, deaths, self.times)[0])
        return np.array(out)

    def unadjusted_groups(self, counts: np.ndarray) -> np.ndarray:
        """:meth:`unadjusted` for the replicates whose rows' weights are ``counts[b, group]`` (counts:
        replicates x groups): replicates x arms x times, from the per-group tables (no pass over the rows)."""
        out = np.empty((len(counts), len(self.arms), len(self.times)))
        for a_i, ((_, u, _, _), tabs) in enumerate(zip(self.by_arm, self.group_tables)):
            exits, d1, d2 = (counts @ t for t in tabs)
            for b in range(len(counts)):
                out[b, a_i] = _aalen_johansen_counts(u, exits[b], [d1[b], d2[b]], self.times)[0]
        return out

    def standardized(self, w: np.ndarray, init) -> np.ndarray:
        """Standardized incidence of cause 1 by arm with row weights ``w``, the fits started at ``init``."""
        pos = np.flatnonzero(w > 0)
        p = self.X.shape[1]
        if p and np.any(self.ranges.constant(w)):
            return standardized_competing_incidence(self.T, self.st, self.X, self.arm, self.times, weights=w,
                                                    init=init, ties=self.ties)[0]
        betas, base = [], []
        for k, rs in enumerate(self.rs):
            rw = rs.reweighted(w)
            beta = np.zeros(p)
            if len(rw.ut) == 0:
                betas.append(beta)
                base.append({})
                continue
            if p:
                try:
                    beta, *_, converged = newton_cox(rw, self._start(k, init[k])(w), self.ties, accept_step=ACCEPT_STEP)
                except np.linalg.LinAlgError:
                    raise NotEstimable("a cause-specific Cox model has a singular information matrix (too few "
                                       "events of a cause for its covariates)") from None
                if not converged or not np.all(np.isfinite(beta)):
                    raise NotEstimable("a cause-specific Cox model did not converge (monotone likelihood: a "
                                       "covariate may separate the events)")
            dH = baseline_increments(rw, beta)
            s = np.floor(rw.ut / self.width).astype(int)
            betas.append(beta)
            base.append({a: (rw.ut[s == a] - a * self.width, dH[s == a]) for a in np.unique(self.arm[pos])})
        r = [np.exp(self.X @ b)[pos] for b in betas]
        return _standardize(r, w[pos], base, self.arms, self.times)

    def standardized_many(self, W: np.ndarray, init) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`standardized` for the m weight vectors in the columns of ``W`` (n x m, original row
        order), the cause-specific fits of all of them together (:class:`ReplicateFits`). Returns
        (m x arms x times, NaN for a replicate that failed to fit; which failed). A replicate with a
        covariate constant among its drawn rows, without deaths of a cause, or whose Newton step needs
        halving goes through :meth:`standardized` alone."""
        m, p = W.shape[1], self.X.shape[1]
        Wt = np.ascontiguousarray(W.T)  # a replicate's weights contiguous
        out = np.full((m, len(self.arms), len(self.times)), np.nan)
        failed = np.zeros(m, bool)
        alone = np.zeros(m, bool)
        if p:
            alone |= np.array([bool(np.any(self.ranges.constant(Wt[b]))) for b in range(m)], bool)
        betas = np.zeros((2, m, p))
        fitted = []
        for k, rf in enumerate(self.fits):
            Ws = fitted[0] if k else W[rf.order]  # the fits share their sort (see __init__)
            if len(rf.ut):
                alone |= Ws[rf.drows].sum(axis=0) == 0  # no death of this cause drawn
            idx = np.flatnonzero(~alone & ~failed)
            if p and len(rf.ut) and len(idx):
                start = self._start(k, init[k])
                # the start's score residuals are in the engine's time order, the same sort as rf's
                s0 = start.beta + np.linalg.solve(start.H, start.U.T @ Ws[:, idx]).T
                beta, conv, fallback = rf.newton(Ws[:, idx], s0, accept_step=ACCEPT_STEP)
                # a replicate whose step needs halving, or that did not converge here, is refitted alone
                # (the one-replicate path decides whether it fails)
                alone[idx[fallback | ~(conv & np.isfinite(beta).all(axis=1))]] = True
                betas[k, idx] = beta
            fitted.append(Ws)
        idx = np.flatnonzero(~alone & ~failed)
        base = [[{} for _ in range(m)] for _ in (1, 2)]
        R = []  # each cause's relative hazards, replicates x rows in the fits' (shared) sorted order
        for k, rf in enumerate(self.fits):
            R.append(np.exp(betas[k, idx] @ rf.X.T))
            if not len(rf.ut) or not len(idx):
                continue
            dH, has = rf.baseline_increments(fitted[k][:, idx], betas[k, idx], R[k].T)
            for i, b in enumerate(idx):
                ut, d, s = rf.ut[has[:, i]], dH[has[:, i], i], rf.ustratum[has[:, i]]
                base[k][b] = {a: (ut[s == a] - a * self.width, d[s == a]) for a in np.unique(s)}
        Wst = np.ascontiguousarray(fitted[0][:, idx].T)  # the standardization is a mean: any row order
        for i, b in enumerate(idx):
            pos = np.flatnonzero(Wst[i] > 0)
            out[b] = _standardize([R[0][i, pos], R[1][i, pos]], Wst[i, pos], [base[0][b], base[1][b]], self.arms,
                                  self.times)
        for b in np.flatnonzero(alone & ~failed):
            try:
                out[b] = self.standardized(Wt[b], init)
            except (RuntimeError, np.linalg.LinAlgError):
                failed[b] = True
        out[failed] = np.nan
        return out, failed

    def _start(self, k: int, init) -> ReplicateStart:
        """Cause k's replicate start from the full-data coefficients ``init`` (computed once per init)."""
        key = (k, np.asarray(init, float).tobytes())
        if key not in self._starts:
            self._starts[key] = ReplicateStart(self.rs[k], init, self.ties)
        return self._starts[key]


def competing_bootstrap(time, status, X, arm, org, times, counts, init, log: logging.Logger | None = None):
    """Both estimates on every cluster-bootstrap replicate: ``counts`` (replicates x organizations, from
    :func:`mheval.models.adjusted_incidence.cluster_bootstrap_counts`) gives row i the frequency weight
    ``counts[b, org[i]]``; the cause-specific fits start at ``init`` (the full-data coefficients).
    Returns ({method: replicates x arms x times}, number of replicates that failed to fit: NaN rows).
    Progress goes to ``log`` (:class:`mheval.progress.LoopProgress`)."""
    n_boot = len(counts)
    boot = {m: np.full((n_boot, len(np.unique(arm)), len(times)), np.nan) for m in METHODS}
    failed = 0
    if n_boot == 0:
        return boot, failed
    with reuse_freed_memory():
        return _competing_bootstrap(time, status, X, arm, org, times, counts, init, log, boot)


def _competing_bootstrap(time, status, X, arm, org, times, counts, init, log, boot):
    """:func:`competing_bootstrap`'s loop over blocks of replicates, filling ``boot``."""
    n_boot, failed = len(counts), 0
    eng = CompetingBootstrap(time, status, X, arm, times, group=org)
    progress = LoopProgress(log or logger, "competing-risk bootstrap replicates", n_boot)
    for lo in range(0, n_boot, (block := replicate_block(len(org)))):
        W = counts[lo:lo + block, org].T  # n x m, a replicate a column
        std, bad = eng.standardized_many(W, init)
        un = eng.unadjusted_groups(counts[lo:lo + block])
        for i in range(W.shape[1]):
            b = lo + i
            if bad[i]:
                failed += 1
            else:
                boot["standardized"][b] = std[i]
                boot["unadjusted"][b] = un[i]
        progress.step(W.shape[1])  # a block at a time
    progress.done()
    return boot, failed


@dataclass
class CompetingIncidence:
    """``table``: one row per follow-up year, method ("standardized", "unadjusted") and arm
    ("intervention", "control", "difference") with columns year, method, arm, estimate, lower,
    upper (percent; the difference in percentage points; (1 - alpha) percentile bootstrap bands) and
    note (the reason when the year is not estimable). ``curves``: the same on the monthly grid
    (column ``years``) where every arm has enough at risk and events, for plotting.
    ``coefficients``: each cause-specific model's coefficients by covariate."""

    table: pd.DataFrame
    curves: pd.DataFrame
    coefficients: dict
    covariates: list[str]
    n: int
    n_events: int
    n_competing: int
    n_organizations: int
    n_boot: int
    n_boot_failed: int
    alpha: float
    notes: list[str] = field(default_factory=list)


def competing_cumulative_incidence(tte: pd.DataFrame, duration: str, status: str, covariates_frame: pd.DataFrame | None,
                                   treatment: str = "MH", cluster: str = "ORG_ID", years=(1, 2, 3, 4, 5),
                                   n_boot: int = 200, alpha: float = 0.10, seed: int = 0, grid_step: float = 1 / 12,
                                   min_at_risk: int = 11, min_events: int = 11,
                                   max_failed_share: float = MAX_FAILED_SHARE) -> CompetingIncidence:
    """Cumulative incidence of status 1 with status 2 as a competing risk, by arm: unadjusted
    (Aalen-Johansen) and standardized (cause-specific Cox models), with cluster-bootstrap bands.

    Parameters
    ----------
    tte : one row per beneficiary with ``duration`` (years), ``status`` (0 censored, 1 event,
        2 competing event; :func:`competing_status`), ``treatment`` (0/1) and ``cluster``.
    covariates_frame : numeric adjustment covariates aligned with ``tte`` (constant columns and a
        ``treatment`` column are dropped); None: no adjustment (the standardized estimate is then
        the unadjusted one).
    years : follow-up years in ``table``; a year is not estimable (NaN and a reason in ``note``)
        when an arm has fewer than ``min_at_risk`` at risk then or fewer than ``min_events`` events by then.
    n_boot, seed : cluster-bootstrap replicates (0: no bands) and their seed.
    max_failed_share : above this share of replicates failing to fit, the bands are not estimable (NaN,
        the reason in ``note`` of the years that have an estimate, and in ``notes``;
        :func:`mheval.models.adjusted_incidence.percentile_band`).
    """
    T = tte[duration].to_numpy(float)
    st = tte[status].to_numpy().astype(int)
    trt = tte[treatment].to_numpy().astype(int)
    _, org = np.unique(tte[cluster].to_numpy(), return_inverse=True)
    cov = (pd.DataFrame(index=tte.index) if covariates_frame is None else covariates_frame).drop(
        columns=[treatment], errors="ignore")
    cov = cov.loc[:, cov.nunique(dropna=False) > 1]
    if cov.isna().any().any():
        raise ValueError(f"missing values in covariates {cov.columns[cov.isna().any()].tolist()}")
    X = cov.to_numpy(float)
    arms = sorted(np.unique(trt).tolist(), reverse=True)
    years = np.asarray(years, float)
    grid = np.arange(0, round(years.max() / grid_step) + 1) * grid_step
    times = np.unique(np.r_[grid, years])

    diag: dict = {}
    un = np.array([aalen_johansen(T[trt == a], st[trt == a], times)[0] for a in arms])
    std, betas = standardized_competing_incidence(T, st, X, trt, times, diagnostics=diag)
    est = {"standardized": std, "unadjusted": un}
    counts, notes = cluster_bootstrap_counts(org, trt, n_boot, seed)
    boot, failed = competing_bootstrap(T, st, X, trt, org, times, counts, betas)
    if failed:
        notes.append(f"{failed} of {n_boot} bootstrap replicates failed to fit and were left out")

    at_risk = np.array([[(T[trt == a] >= t).sum() for t in times] for a in arms])
    events = np.array([[((T[trt == a] <= t) & (st[trt == a] == 1)).sum() for t in times] for a in arms])
    reason = np.where((at_risk == 0).all(axis=0), "not estimable: no beneficiary is followed this long",
                      np.where((at_risk < min_at_risk).any(axis=0),
                      f"not estimable: fewer than {min_at_risk} beneficiaries at risk in an arm (report.min_cell)",
                      np.where((events < min_events).any(axis=0),
                               f"not estimable: fewer than {min_events} events by then in an arm (report.min_cell)", "")))
    ok = reason == ""
    if "capped_from" in diag and np.any(ok & (times >= diag["capped_from"])):
        notes.append(f"from {diag['capped_from']:.3f} years a beneficiary's predicted hazard exceeded its risk set's "
                     "(few at risk): the event-free probability was set to 0 there")
    # the curves start at 0 and show a time once every arm has enough at risk and no small event count
    curve_ok = (at_risk >= min_at_risk).all(axis=0) & ((events == 0) | (events >= min_events)).all(axis=0)
    frames, curve_frames = [], []
    for m in METHODS:
        series = {ARMS[a]: (est[m][k], boot[m][:, k]) for k, a in enumerate(arms)}
        if len(arms) == 2:
            series["difference"] = (est[m][0] - est[m][1], boot[m][:, 0] - boot[m][:, 1])
        for nm, (e, bs) in series.items():
            lo, hi, band = percentile_band(bs, alpha, n_boot, failed, max_failed_share)
            f = pd.DataFrame({"years": times, "method": m, "arm": nm, "estimate": 100 * e, "lower": 100 * lo,
                              "upper": 100 * hi, "note": np.where(ok, band, reason)})
            f.loc[~ok, ["estimate", "lower", "upper"]] = np.nan
            frames.append(f)
            curve_frames.append(pd.DataFrame({"years": times, "method": m, "arm": nm, "estimate": 100 * e,
                                              "lower": 100 * lo, "upper": 100 * hi})[curve_ok & np.isin(times, grid)])
    if band:
        notes.append(band)
    allc = pd.concat(frames, ignore_index=True)
    table = allc[np.isin(allc["years"], years)].rename(columns={"years": "year"})
    table = table.reset_index(drop=True)
    table["year"] = table["year"].round(6)
    curves = pd.concat(curve_frames, ignore_index=True)
    names = list(cov.columns)
    return CompetingIncidence(table=table, curves=curves,
                              coefficients={"event": dict(zip(names, map(float, betas[0]))),
                                            "competing_death": dict(zip(names, map(float, betas[1])))},
                              covariates=names, n=len(T), n_events=int((st == 1).sum()),
                              n_competing=int((st == 2).sum()), n_organizations=int(org.max()) + 1 if len(org) else 0,
                              n_boot=n_boot, n_boot_failed=failed, alpha=alpha, notes=notes)
