"""Covariate-adjusted cumulative incidence by arm (direct standardization of a Cox model).

The marginal Cox model (treatment + adjustment covariates, Efron ties, :func:`fit_cox`) and its
Breslow baseline cumulative hazard H0 give every subject's predicted survival
S(t | x, MH) = exp(-H0(t) exp(x'beta + MH b)). The adjusted cumulative incidence of an arm is the
average over the analysis sample of 1 - S(t | x_i, MH = arm), with every subject set to that arm
(the same covariate mix in both arms); the difference is intervention minus control, in percentage
points. This is R's ``survfit(coxph(...), newdata = sample with MH set, ctype = 1)`` averaged over
the rows. Note 1 - S is the cause-specific quantity: competing deaths are treated as censoring, which
overstates the incidence; it is kept as the labelled sensitivity analysis only. The primary estimate
treats death as a competing risk (:mod:`mheval.models.competing_risks`).

Uncertainty: percentile bands from a cluster bootstrap over organizations, resampled with
replacement within arm (the arms are randomized by organization). A replicate is a vector of
frequency weights (the number of times each subject's organization is drawn) passed to
``fit_cox(weights=)``, so no data are copied; the model is refitted (started at the full-sample
estimate), the baseline hazard recomputed and the standardization averaged with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.cox_engine import breslow_cumhaz, fit_cox
from mheval.models.estimability import NotEstimable

ARMS = {1: "intervention", 0: "control"}


@dataclass
class AdjustedIncidence:
    """``table``: one row per follow-up year and arm ("intervention", "control", "difference")
    with columns year, arm, estimate, lower, upper: cumulative incidence in percent, the difference
    in percentage points, (1 - alpha) percentile bootstrap bands. ``curves``: the same on the time
    grid (column ``years``), for plotting. ``log_hr``: the treatment coefficient of the model."""

    table: pd.DataFrame
    curves: pd.DataFrame
    log_hr: float
    covariates: list[str]
    nobs: int
    n_events: int
    n_organizations: int
    n_boot: int
    n_boot_failed: int
    alpha: float
    notes: list[str] = field(default_factory=list)


def cluster_bootstrap_counts(org: np.ndarray, trt: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """The cluster bootstrap's replicates: organizations resampled with replacement within arm.

    ``org``: each subject's organization as codes 0..G-1; ``trt``: each subject's arm (0/1).
    Returns an ``n_boot`` x G matrix of how many times each organization is drawn (a subject's
    frequency weight in replicate b is ``counts[b, org]``) and notes (an organization holding both
    arms is resampled within one of them). The same ``seed`` gives the same replicates."""
    G = int(org.max()) + 1 if len(org) else 0
    counts = np.zeros((n_boot, G))
    notes = []
    if n_boot <= 0:
        return counts, notes
    rng = np.random.default_rng(seed)
    org_arm = np.zeros(G, int)
    org_arm[org] = trt
    arms = sorted(np.unique(trt).tolist(), reverse=True)
    if len(arms) == 2 and np.any(np.bincount(org, weights=trt, minlength=G) % np.bincount(org, minlength=G)):
        notes.append("some organizations hold both arms: each resampled within one of its arms")
    for a in arms:  # resample organizations with replacement within arm
        idx = np.flatnonzero(org_arm == a)
        counts[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=n_boot)
    return counts, notes


def _standardized(H: np.ndarray, eta: np.ndarray, w: np.ndarray | None, chunk: int = 20000) -> np.ndarray:
    """(weighted) mean over subjects of 1 - exp(-H(t) exp(eta_i)) at each time of H."""
    tot = np.zeros(len(H))
    r = np.exp(eta)
    for lo in range(0, len(r), chunk):
        s = np.exp(-np.outer(r[lo:lo + chunk], H))
        tot += (s.sum(axis=0) if w is None else w[lo:lo + chunk] @ s)
    return 1.0 - tot / (len(r) if w is None else w.sum())


def _curves(T, E, X, arm_col, arms, times, ties, baseline, weights=None, init=None):
    """Standardized cumulative incidence for each arm (rows) at ``times``, and the coefficients."""
    beta = np.zeros(X.shape[1])
    if weights is not None:
        keep = weights > 0
        T, E, X, weights = T[keep], E[keep], X[keep], weights[keep]
    # a column constant in a bootstrap sample (e.g. an organization trait none of the drawn organizations
    # has) is not identified: leave it out (coefficient 0); it is absorbed by the baseline hazard
    use = np.flatnonzero(X.max(axis=0) > X.min(axis=0)) if len(X) else np.zeros(0, int)
    if arm_col is not None and arm_col not in use:
        raise RuntimeError("the sample holds one arm only")
    if len(use):
        fit = fit_cox(T, E, X[:, use], ties=ties, weights=weights, init=None if init is None else init[use])
        if not fit.converged or not np.all(np.isfinite(fit.params)):
            raise NotEstimable("the Cox model did not converge (monotone likelihood: a covariate or the arm may separate the events)")
        beta[use] = fit.params
    ut, H = breslow_cumhaz(T, E, X, beta, weights=weights, ties=baseline)
    Ht = np.r_[0.0, H][np.searchsorted(ut, times, side="right")]
    out = np.empty((len(arms), len(times)))
    for k, a in enumerate(arms):
        eta = X @ beta
        if arm_col is not None:
            eta = eta + (a - X[:, arm_col]) * beta[arm_col]
        out[k] = _standardized(Ht, eta, weights)
    return out, beta


def adjusted_cumulative_incidence(tte: pd.DataFrame, duration: str, event: str, covariates_frame: pd.DataFrame | None,
                                  treatment: str = "MH", cluster: str = "ORG_ID", years=(1, 2, 3, 4, 5),
                                  n_boot: int = 200, alpha: float = 0.10, seed: int = 0, grid_step: float = 1 / 12,
                                  ties: str = "efron", baseline: str = "breslow", min_at_risk: int = 11) -> AdjustedIncidence:
    """Adjusted (standardized) cumulative incidence by arm and its difference, with bootstrap bands.

    Parameters
    ----------
    tte : analysis sample, one row per subject, with ``duration`` (years), ``event`` (0/1),
        ``treatment`` (0/1) and ``cluster`` (organization) columns.
    covariates_frame : adjustment covariates, numeric, rows aligned with ``tte`` (e.g. from
        :func:`mheval.models.survival_impact.design_matrix`); a ``treatment`` column in it is
        ignored (the treatment is taken from ``tte``); constant columns are dropped. None or an
        empty frame: no adjustment.
    years : follow-up years reported in ``table``.
    n_boot : cluster-bootstrap replicates (0: no bands).
    alpha : the bands are the alpha/2 and 1 - alpha/2 percentiles of the replicates.
    grid_step : spacing of the plotting grid in years (monthly by default), up to max(years).
    ties : ties of the Cox fit; ``baseline``: "breslow" (R's ctype 1) or "efron" (ctype 2).
    min_at_risk : a grid time is reported only while at least this many subjects remain at risk in
        every arm (small-cell protection, as the Kaplan-Meier curves); otherwise NaN in ``table``
        and the row is dropped from ``curves``.

    If the sample holds only one arm, only that arm's curve is returned (no treatment term).
    """
    T = tte[duration].to_numpy(float)
    E = tte[event].to_numpy().astype(int)
    trt = tte[treatment].to_numpy().astype(int)
    org_codes, org = np.unique(tte[cluster].to_numpy(), return_inverse=True)
    if covariates_frame is None:
        covariates_frame = pd.DataFrame(index=tte.index)
    cov = covariates_frame.drop(columns=[treatment], errors="ignore")
    cov = cov.loc[:, cov.nunique(dropna=False) > 1]
    if cov.isna().any().any():
        raise ValueError(f"missing values in covariates {cov.columns[cov.isna().any()].tolist()}")
    arms = sorted(np.unique(trt).tolist(), reverse=True)  # 1 (intervention) first
    if len(arms) == 2:
        X = np.c_[trt.astype(float), cov.to_numpy(float)]
        arm_col = 0
    else:
        X = cov.to_numpy(float)
        arm_col = None
    years = np.asarray(years, float)
    grid = np.arange(0, round(years.max() / grid_step) + 1) * grid_step
    times = np.unique(np.r_[grid, years])

    est, beta = _curves(T, E, X, arm_col, arms, times, ties, baseline)

    boot = np.full((n_boot, len(arms), len(times)), np.nan)
    failed = 0
    counts, notes = cluster_bootstrap_counts(org, trt, n_boot, seed)
    if n_boot > 0:
        for b in range(n_boot):
            try:
                boot[b] = _curves(T, E, X, arm_col, arms, times, ties, baseline, weights=counts[b, org], init=beta)[0]
            except (RuntimeError, np.linalg.LinAlgError):
                failed += 1
        if failed:
            notes.append(f"{failed} of {n_boot} bootstrap replicates failed to fit and were left out")

    # small-cell protection: stop where fewer than min_at_risk remain at risk in an arm
    at_risk = np.array([[(T[trt == a] >= t).sum() for t in times] for a in arms])
    ok = (at_risk >= min_at_risk).all(axis=0)

    names = [ARMS[a] for a in arms]
    series = {nm: (est[k], boot[:, k]) for k, nm in enumerate(names)}
    if len(arms) == 2:
        series["difference"] = (est[0] - est[1], boot[:, 0] - boot[:, 1])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    frames = []
    for nm, (e, bs) in series.items():
        if n_boot - failed > 1:
            lo, hi = np.nanpercentile(bs, q, axis=0)
        else:
            lo = hi = np.full(len(times), np.nan)
        f = pd.DataFrame({"years": times, "arm": nm, "estimate": 100 * e, "lower": 100 * lo, "upper": 100 * hi})
        f.loc[~ok, ["estimate", "lower", "upper"]] = np.nan
        frames.append(f)
    allc = pd.concat(frames, ignore_index=True)
    table = allc[np.isin(allc["years"], years)].rename(columns={"years": "year"}).reset_index(drop=True)
    table["year"] = table["year"].round(6)
    curves = allc[np.isin(allc["years"], grid) & allc["estimate"].notna()].reset_index(drop=True)
    return AdjustedIncidence(table=table, curves=curves, log_hr=float(beta[0]) if arm_col is not None else float("nan"),
                             covariates=list(cov.columns), nobs=len(T), n_events=int(E.sum()),
                             n_organizations=len(org_codes), n_boot=n_boot, n_boot_failed=failed, alpha=alpha, notes=notes)
