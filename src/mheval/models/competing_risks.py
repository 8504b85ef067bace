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
recomputed on every replicate as frequency-weighted fits.

A follow-up year is **not estimable** (a reason, never a number) when an arm has fewer than
``min_at_risk`` beneficiaries still at risk at that time, or fewer than ``min_events`` events by it
(below ``report.min_cell`` the incidence times the arm's size would give a small count away).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.adjusted_incidence import cluster_bootstrap_counts
from mheval.models.cox_engine import breslow_cumhaz, fit_cox
from mheval.models.estimability import NotEstimable

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
    ut = np.unique(T[(st > 0) & (w > 0)])
    order = np.argsort(T, kind="stable")
    Ts, ws = T[order], w[order]
    at_risk = np.r_[np.cumsum(ws[::-1])[::-1], 0.0][np.searchsorted(Ts, ut, side="left")]
    j = np.searchsorted(ut, T)
    d = np.zeros((2, len(ut)))
    for k in (1, 2):
        m = (st == k) & (w > 0)
        d[k - 1] = np.bincount(j[m], weights=w[m], minlength=len(ut))
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
                                     chunk: int = 4000, diagnostics: dict | None = None):
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
    there)."""
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
    r = [np.exp(X @ b) for b in betas]
    w = np.ones(len(T)) if weights is None else weights
    times = np.asarray(times, float)
    out = np.zeros((len(arms), len(times)))
    for a_i, a in enumerate(arms):
        ut = np.unique(np.r_[base[0].get(a, (np.zeros(0),))[0], base[1].get(a, (np.zeros(0),))[0]])
        dA = np.zeros((2, len(ut)))
        for k in (0, 1):
            if a in base[k]:
                t_k, d_k = base[k][a]
                dA[k, np.searchsorted(ut, t_k)] = d_k
        m1 = np.zeros(len(ut))  # mean over subjects of S_i(t_{j-1}) r_1,i
        for lo in range(0, len(T) if len(ut) else 0, chunk):
            r1, r2, wc = r[0][lo:lo + chunk], r[1][lo:lo + chunk], w[lo:lo + chunk]
            q = np.multiply.outer(r1, -dA[0])  # 1 - r1 dA1 - r2 dA2, built in place (n x J is the cost)
            q -= np.multiply.outer(r2, dA[1])
            q += 1.0
            wr = wc * r1
            if len(ut) and q.min() < 0:
                # a beneficiary's predicted hazards exceed the risk set's (r1 dA1 + r2 dA2 > 1): both are
                # scaled to sum to 1 there, so the beneficiary's event-free probability becomes 0 and its
                # incidence stays in [0, 1] (the cause-1 increment r1 dA1 S(t-) shrinks by the same factor)
                first = float(ut[np.flatnonzero((q < 0).any(axis=0))[0]])
                if diagnostics is not None:
                    diagnostics["capped_from"] = min(diagnostics.get("capped_from", np.inf), first)
                scale = 1.0 / np.maximum(1.0 - q, 1.0)  # 1 / max(1, r1 dA1 + r2 dA2)
                np.maximum(q, 0.0, out=q)
                S = np.cumprod(q, axis=1)
                prev = np.concatenate([np.ones((len(r1), 1)), S[:, :-1]], axis=1)  # S_i(t_{j-1})
                m1 += wr @ (prev * scale)
                continue
            np.cumprod(q, axis=1, out=q)  # S_i(t_j)
            m1[0] += wr.sum()
            m1[1:] += wr @ q[:, :-1]  # S_i(t_{j-1})
        inc = np.cumsum(m1 / w.sum() * dA[0])
        out[a_i] = np.r_[0.0, inc][np.searchsorted(ut, times, side="right")]
    return out, tuple(betas)


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
                                   min_at_risk: int = 11, min_events: int = 11) -> CompetingIncidence:
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

    def both(weights=None, init=None):
        un = np.array([aalen_johansen(T[trt == a], st[trt == a], times,
                                      None if weights is None else weights[trt == a])[0] for a in arms])
        std, betas = standardized_competing_incidence(T, st, X, trt, times, weights=weights, init=init,
                                                      diagnostics=diag if weights is None else None)
        return {"standardized": std, "unadjusted": un}, betas

    diag: dict = {}
    est, betas = both()
    counts, notes = cluster_bootstrap_counts(org, trt, n_boot, seed)
    boot = {m: np.full((n_boot, len(arms), len(times)), np.nan) for m in METHODS}
    failed = 0
    for b in range(n_boot):
        try:
            rep, _ = both(counts[b, org], betas)
        except (RuntimeError, np.linalg.LinAlgError):
            failed += 1
            continue
        for m in METHODS:
            boot[m][b] = rep[m]
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
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    frames, curve_frames = [], []
    for m in METHODS:
        series = {ARMS[a]: (est[m][k], boot[m][:, k]) for k, a in enumerate(arms)}
        if len(arms) == 2:
            series["difference"] = (est[m][0] - est[m][1], boot[m][:, 0] - boot[m][:, 1])
        for nm, (e, bs) in series.items():
            lo, hi = (np.nanpercentile(bs, q, axis=0) if n_boot - failed > 1 else np.full((2, len(times)), np.nan))
            f = pd.DataFrame({"years": times, "method": m, "arm": nm, "estimate": 100 * e, "lower": 100 * lo,
                              "upper": 100 * hi, "note": reason})
            f.loc[~ok, ["estimate", "lower", "upper"]] = np.nan
            frames.append(f)
            curve_frames.append(pd.DataFrame({"years": times, "method": m, "arm": nm, "estimate": 100 * e,
                                              "lower": 100 * lo, "upper": 100 * hi})[curve_ok & np.isin(times, grid)])
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
