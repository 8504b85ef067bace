"""Proportional-hazards checks for the Cox models: the scaled Schoenfeld residual test and the
treatment effect by follow-up year.

- :func:`schoenfeld_test`: R survival (>= 3.0) ``cox.zph(fit, transform = "km", terms = TRUE)``.
  Since survival 3.0 the test is a proper score test, not Grambsch and Therneau's approximation:
  each covariate x_k gets a companion time-varying covariate x_k g(t), with g the centred
  transform of time, and the score test of "all companions' coefficients are 0" is computed at
  (beta_hat, 0) with the full 2p x 2p information matrix. Per term it uses the p coefficients plus
  the term's companions; GLOBAL uses all of them. Here every sum is a vectorized risk-set sum
  from :mod:`mheval.models.cox_engine` (Efron or Breslow ties, case weights, (start, stop] rows).
- :func:`fit_by_follow_up_year`: episode splitting of follow-up into years 1..K (counting-process
  rows, as R's ``survSplit``) and a Cox model in which the treatment effect varies by follow-up
  year (treatment x year indicators, other covariates common), cluster-robust SE by organization.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from mheval.models.cox_engine import RiskSets, fit_cox, loglik_grad_hess
from mheval.models.estimability import NotEstimable
from mheval.models.wald import wald_interval


def _km_left(time, event, entry=None) -> np.ndarray:
    """1 - KM(t_i-) (left-continuous Kaplan-Meier, unweighted) at each row's time: R's "km" transform."""
    rs = RiskSets(time, event, np.zeros((len(time), 1)), entry=entry)
    n_risk = rs.risk_sum(np.ones(len(rs.t)))
    surv = np.cumprod(1.0 - rs.n_dead / n_risk)
    k = np.searchsorted(rs.ut, np.asarray(time, float), side="left")  # event times strictly before t_i
    return 1.0 - np.r_[1.0, surv][k]


def schoenfeld_test(time, event, X, beta=None, *, start=None, weights=None, ties: str = "efron",
                    terms: dict | None = None, names=None, transform: str = "km") -> pd.DataFrame:
    """Test of proportional hazards per term and globally, as R's ``cox.zph(fit, transform, terms = TRUE)``.

    Parameters
    ----------
    time, event, X, start, weights, ties : as :func:`mheval.models.cox_engine.fit_cox`; X may be a
        DataFrame (its column names name the terms).
    beta : fitted coefficients; if None the model is fitted with ``fit_cox``.
    terms : optional {term name: list of column names or indices} grouping columns into terms (as
        a factor's dummies in R); default one term per column.
    transform : "km" (default, 1 - left-continuous Kaplan-Meier), "identity", "rank" or "log".

    Returns
    -------
    DataFrame indexed by term and "GLOBAL" with columns chisq, df, p.
    """
    if names is None:
        names = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{k}" for k in range(np.shape(X)[1])]
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    time = np.asarray(time, float)
    event = np.asarray(event).astype(bool)
    p = X.shape[1]
    if beta is None:
        beta = fit_cox(time, event, X, ties=ties, weights=weights, start=start).params
    beta = np.asarray(beta, float)
    if weights is not None:  # weight-0 rows are left out (fit_cox drops them)
        weights = np.asarray(weights, float)
        keep = weights > 0
        time, event, X, weights = time[keep], event[keep], X[keep], weights[keep]
        start = None if start is None else np.asarray(start, float)[keep]
    # g(t) per row, centred on its mean over the events (R: gtime <- ttimes - mean(ttimes[event]))
    if transform == "km":
        tt = _km_left(time, event, start)
    elif transform == "identity":
        tt = time.copy()
    elif transform == "rank":
        from scipy import stats  # only here: scipy.stats costs a job that never ranks ~0.4 CPU s to import

        tt = stats.rankdata(time)
    elif transform == "log":
        tt = np.log(time)
    else:
        raise ValueError("transform must be 'km', 'identity', 'rank' or 'log'")
    gt = tt - tt[event].mean()

    rs = RiskSets(time, event, X, weights=weights, entry=start)
    parts = loglik_grad_hess(rs, beta, ties, hess=False)[3]
    j, frac, den, xbar, wt = parts[5:10]
    _, _, _, _, _, S2, _, _, D2 = rs.sums(beta, True)
    g_j = np.zeros(len(rs.ut))
    g_j[rs.death_j] = gt[rs.order][rs.d]  # g is a function of time: equal within an event time
    g = g_j[j]
    num2 = S2[j] - frac[:, None, None] * D2[j]
    V = wt[:, None, None] * (num2 / den[:, None, None] - xbar[:, :, None] * xbar[:, None, :])
    I_bb = V.sum(axis=0)
    I_bg = np.einsum("l,lab->ab", g, V)
    I_gg = np.einsum("l,lab->ab", g * g, V)
    imat = np.block([[I_bb, I_bg], [I_bg.T, I_gg]])
    cwd = rs.cw[rs.d]
    u = (cwd * g_j[rs.death_j]) @ rs.X[rs.d] - (wt * g) @ xbar  # score of the companions at (beta, 0)

    if terms is None:
        terms = {nm: [k] for k, nm in enumerate(names)}
    rows = []
    for term, cols in terms.items():
        jj = np.array([names.index(c) if isinstance(c, str) else int(c) for c in cols])
        kk = np.r_[np.arange(p), p + jj]
        uu = np.r_[np.zeros(p), u[jj]]
        chisq = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append((term, chisq, len(jj)))
    uu = np.r_[np.zeros(p), u]
    rows.append(("GLOBAL", float(uu @ np.linalg.solve(imat, uu)), p))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"]).set_index("term")
    out["p"] = special.chdtrc(out["df"].to_numpy(float), out["chisq"].to_numpy(float))  # scipy.stats's chi2.sf
    return out


def split_follow_up(duration, event, cuts) -> dict:
    """Episode splitting (R's ``survSplit``): each subject's (0, T] cut at ``cuts`` into rows
    (start, stop] with the event on the last row. Returns arrays row_of (subject index), start,
    stop, event and episode (1-based interval number)."""
    T = np.asarray(duration, float)
    E = np.asarray(event).astype(int)
    cuts = np.asarray(sorted(cuts), float)
    n_rows = 1 + (T[:, None] > cuts[None, :]).sum(axis=1)  # a cut at exactly T adds no row
    row_of = np.repeat(np.arange(len(T)), n_rows)
    episode = np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows) + 1
    edges = np.r_[0.0, cuts]
    start = edges[episode - 1]
    last = episode == n_rows[row_of]
    stop = np.where(last, T[row_of], edges[np.minimum(episode, len(cuts))])
    return {"row_of": row_of, "start": start, "stop": stop, "event": np.where(last, E[row_of], 0), "episode": episode}


def fit_by_follow_up_year(tte: pd.DataFrame, duration: str, event: str, covariates_frame: pd.DataFrame,
                          treatment: str = "MH", cluster: str = "ORG_ID", n_years: int = 5, alpha: float = 0.10,
                          ties: str = "efron") -> pd.DataFrame:
    """Treatment effect by follow-up year from one Cox model on episode-split data.

    Follow-up is split at 1, 2, ..., n_years - 1 years (the last interval is open: year n_years
    covers everything after n_years - 1). The model has treatment x I(year k) for k = 1..n_years
    and the other columns of ``covariates_frame`` (its ``treatment`` column, if any, is replaced),
    with cluster-robust (sandwich) SE by ``cluster``. Equivalent in R to
    ``survSplit(Surv(T, E) ~ ., cut = 1:(K-1), episode = "year")`` then
    ``coxph(Surv(tstart, T, E) ~ MH1 + ... + MHK + covariates + cluster(ORG_ID))``.

    Returns one row per year: year, log_hr, se, hr, lower, upper ((1 - alpha) interval), p,
    events_treated, events_control (events in that follow-up year by arm).
    """
    cov = covariates_frame.drop(columns=[treatment], errors="ignore")
    cov = cov.loc[:, cov.nunique(dropna=False) > 1]
    if cov.isna().any().any():
        raise ValueError("missing values in covariates")
    sp = split_follow_up(tte[duration].to_numpy(), tte[event].to_numpy(), np.arange(1, n_years))
    r = sp["row_of"]
    trt = tte[treatment].to_numpy().astype(float)[r]
    years = np.arange(1, n_years + 1)
    Z = trt[:, None] * (sp["episode"][:, None] == years[None, :])
    X = np.c_[Z, cov.to_numpy(float)[r]]
    fit = fit_cox(sp["stop"], sp["event"], X, cluster=tte[cluster].to_numpy()[r], ties=ties, start=sp["start"])
    if not fit.converged:
        raise NotEstimable("the Cox model by follow-up year did not converge")
    b = fit.params[:n_years]
    se = np.sqrt(np.diag(fit.robust_cov))[:n_years]
    lower, upper, p = wald_interval(b, se, alpha)
    ev = sp["event"].astype(bool)
    return pd.DataFrame({
        "year": years, "log_hr": b, "se": se, "hr": np.exp(b), "lower": np.exp(lower), "upper": np.exp(upper), "p": p,
        "events_treated": [int((ev & (trt == 1) & (sp["episode"] == k)).sum()) for k in years],
        "events_control": [int((ev & (trt == 0) & (sp["episode"] == k)).sum()) for k in years],
    })
