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
:func:`bootstrap_curves` sorts the rows once for all replicates and refits a block of replicates
together (:class:`mheval.models.cox_replicates.ReplicateFits`: every risk-set sum a product over the
rows with the replicates as columns), starts each refit from the linear
approximation of its estimate and interpolates exp(-H(t) r) over the rows' relative hazards r
(:mod:`mheval.models.interpolation`): each replicate equals the direct refit to 1e-10.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.cox_engine import ReplicateStart, RiskSets, baseline_increments, breslow_cumhaz, fit_cox, newton_cox
from mheval.models.cox_replicates import ReplicateFits, replicate_block, reuse_freed_memory
from mheval.models.estimability import NotEstimable
from mheval.models.interpolation import chebyshev_degree, chebyshev_nodes, node_weights
from mheval.progress import LoopProgress

logger = logging.getLogger(__name__)
ARMS = {1: "intervention", 0: "control"}
# a replicate's Newton iterations stop once the error left in a coefficient is below this
# (:func:`mheval.models.cox_engine.newton_cox`); the incidence moves by far less (tests: 1e-10)
ACCEPT_STEP = 1e-8
# the share of the cluster-bootstrap replicates that may fail to fit before the bands are not estimable
# (config models.bootstrap_max_failed_share)
MAX_FAILED_SHARE = 0.10


@dataclass
class AdjustedIncidence:
    """``table``: one row per follow-up year and arm ("intervention", "control", "difference")
    with columns year, arm, estimate, lower, upper, note: cumulative incidence in percent, the difference
    in percentage points, (1 - alpha) percentile bootstrap bands (note: why the band is not estimable,
    or ""). ``curves``: the same on the time
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


def percentile_band(replicates: np.ndarray, alpha: float, n_boot: int, failed: int,
                    max_failed_share: float = MAX_FAILED_SHARE) -> tuple[np.ndarray, np.ndarray, str]:
    """The (1 - alpha) percentile band of cluster-bootstrap ``replicates`` (replicates x times; a
    replicate that failed to fit is a row of NaN, left out), with ``""``, or NaN bands with the reason
    they are not estimable: fewer than two replicates fitted, or more than ``max_failed_share`` of the
    ``n_boot`` failed. Leaving failed replicates out conditions on the resamples that fit: when many
    fail (resampled organizations with no events in an arm, a monotone likelihood) those left are not
    a sample of the estimator's distribution, and their percentiles would be an interval without
    coverage. ``n_boot`` 0 (no bands asked for): NaN bands and no reason. Returns (lower, upper, reason); the reason names the threshold, never a count."""
    times = replicates.shape[-1]
    if n_boot == 0:  # no bands asked for
        reason = ""
    elif n_boot - failed < 2:
        reason = "interval not estimable: fewer than two cluster-bootstrap replicates fitted"
    elif failed > max_failed_share * n_boot:
        reason = (f"interval not estimable: more than {100 * max_failed_share:g}% of the cluster-bootstrap "
                  "replicates failed to fit (models.bootstrap_max_failed_share)")
    else:
        lo, hi = np.nanpercentile(replicates, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
        return lo, hi, ""
    return np.full(times, np.nan), np.full(times, np.nan), reason


class GroupRanges:
    """Each group's (organization's) range of every covariate, to tell cheaply which covariates are
    constant among the rows a bootstrap replicate draws (their coefficients are then not identified)."""

    def __init__(self, X: np.ndarray, group: np.ndarray):
        self.group = np.asarray(group)
        G = int(self.group.max()) + 1 if len(self.group) else 0
        self.lo = np.full((G, X.shape[1]), np.inf)
        self.hi = np.full((G, X.shape[1]), -np.inf)
        if len(self.group):  # rows by group, then each group's minimum and maximum over its run
            order = np.argsort(self.group, kind="stable")
            g = self.group[order]
            first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            Xg = np.asarray(X)[order]
            self.lo[g[first]] = np.minimum.reduceat(Xg, first, axis=0)
            self.hi[g[first]] = np.maximum.reduceat(Xg, first, axis=0)

    def constant(self, weights: np.ndarray) -> np.ndarray:
        """Per covariate: constant among the rows with weight > 0."""
        drawn = np.zeros(len(self.lo), bool)
        drawn[self.group[weights > 0]] = True
        return self.hi[drawn].max(axis=0) <= self.lo[drawn].min(axis=0)


def _standardized(H: np.ndarray, eta: np.ndarray, w: np.ndarray | None, chunk: int = 20000,
                  exact: bool = False) -> np.ndarray:
    """(weighted) mean over subjects of 1 - exp(-H(t) exp(eta_i)) at each time of H; unless ``exact``,
    exp(-H(t) r) is interpolated over the rows' range of r (:mod:`mheval.models.interpolation`;
    n x K, the same to rounding) rather than formed for every row and time (n x len(H))."""
    tot = np.zeros(len(H))
    r = np.exp(eta)
    W = len(r) if w is None else w.sum()
    k = None if exact or not len(r) else chebyshev_degree((r.max() - r.min()) * np.max(np.abs(H), initial=0.0))
    if k:
        nodes = chebyshev_nodes(r.min(), r.max(), k)
        return 1.0 - node_weights(np.ones(len(r)) if w is None else w, r, nodes) @ np.exp(-np.outer(nodes, H)) / W
    for lo in range(0, len(r), chunk):
        s = np.exp(-np.outer(r[lo:lo + chunk], H))
        tot += (s.sum(axis=0) if w is None else w[lo:lo + chunk] @ s)
    return 1.0 - tot / W


def _curves(T, E, X, arm_col, arms, times, ties, baseline, weights=None, init=None, exact=False):
    """Standardized cumulative incidence for each arm (rows) at ``times``, and the coefficients
    (``exact``: the standardization formed for every row, see :func:`_standardized`)."""
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
        _check_fit(fit.converged, fit.params)
        beta[use] = fit.params
    ut, H = breslow_cumhaz(T, E, X, beta, weights=weights, ties=baseline)
    return _arm_curves(X @ beta, None if arm_col is None else X[:, arm_col], beta, arm_col, arms, ut, H, times,
                       weights, exact), beta


def _check_fit(converged: bool, beta: np.ndarray) -> None:
    if not converged or not np.all(np.isfinite(beta)):
        raise NotEstimable("the Cox model did not converge (monotone likelihood: a covariate or the arm may separate the events)")


def _arm_curves(eta, arm_x, beta, arm_col, arms, ut, H, times, weights, exact=False) -> np.ndarray:
    """Standardized incidence under each arm (rows) at ``times`` from the rows' linear predictors
    ``eta``, their arm ``arm_x`` (column ``arm_col`` of the design) and the baseline cumulative
    hazard H at ``ut``."""
    Ht = np.r_[0.0, H][np.searchsorted(ut, times, side="right")]
    out = np.empty((len(arms), len(times)))
    for k, a in enumerate(arms):
        eta_a = eta if arm_col is None else eta + (a - arm_x) * beta[arm_col]
        out[k] = _standardized(Ht, eta_a, weights, exact=exact)
    return out


def bootstrap_curves(T, E, X, arm_col, arms, times, org, counts, init, ties="efron", baseline="breslow",
                     log: logging.Logger | None = None):
    """The standardized curves (:func:`_curves`) on every cluster-bootstrap replicate (row i has the
    frequency weight ``counts[b, org[i]]``), fits started at ``init``: the rows are sorted once and a
    block of replicates is refitted together (:class:`mheval.models.cox_replicates.ReplicateFits`). A
    replicate in which a covariate is constant among the drawn rows, without an event, or whose Newton
    step needs halving goes through :func:`_curves` (so does every replicate under Efron's baseline or
    without covariates). Returns (replicates x
    arms x times, NaN for a replicate that failed to fit; the number failed). Progress goes to ``log``."""
    n_boot = len(counts)
    boot = np.full((n_boot, len(arms), len(times)), np.nan)
    failed = 0
    if n_boot == 0:
        return boot, failed
    with reuse_freed_memory():
        failed = _bootstrap_curves(T, E, X, arm_col, arms, times, org, counts, init, ties, baseline, log, boot)
    return boot, failed


def _bootstrap_curves(T, E, X, arm_col, arms, times, org, counts, init, ties, baseline, log, boot) -> int:
    """:func:`bootstrap_curves`'s loop over blocks of replicates, filling ``boot``; returns the number failed."""
    n_boot, failed = len(counts), 0
    rs = RiskSets(T, E, X)
    start = ReplicateStart(rs, init, ties) if X.shape[1] else None
    ranges = GroupRanges(X, org)
    # the replicates' fits together (Breslow baseline; otherwise, and without covariates, one by one)
    rf = ReplicateFits(T, E, X, ties=ties, group=org) if X.shape[1] and baseline == "breslow" and E.any() else None
    assert rf is None or np.array_equal(rf.order, rs.order)  # the start's residuals are in rf's order
    xa = None if arm_col is None else np.ascontiguousarray(X[:, arm_col])
    progress = LoopProgress(log or logger, "1 - S bootstrap replicates", n_boot)
    for lo in range(0, n_boot, (block := replicate_block(len(T)))):
        W = counts[lo:lo + block, org].T  # n x m, a replicate a column
        Wt = np.ascontiguousarray(W.T)
        m = W.shape[1]
        alone = np.array([rf is None or bool(np.any(ranges.constant(Wt[i]))) for i in range(m)], bool)
        bad = np.zeros(m, bool)
        idx = np.flatnonzero(~alone)
        if len(idx):
            Ws = W[rf.order][:, idx]
            none = Ws[rf.drows].sum(axis=0) == 0  # no event drawn: the direct refit says what happens
            alone[idx[none]] = True
            idx, Ws = idx[~none], Ws[:, ~none]
        if len(idx):
            s0 = start.beta + np.linalg.solve(start.H, start.U.T @ Ws).T
            beta, conv, fallback = rf.newton(Ws, s0, accept_step=ACCEPT_STEP)
            ok = ~fallback & conv & np.isfinite(beta).all(axis=1)
            alone[idx[~ok]] = True  # refitted alone: the one-replicate path decides whether it fails
            idx, beta, Ws = idx[ok], beta[ok], Ws[:, ok]
            dH, has = rf.baseline_increments(Ws, beta)
            eta = beta @ X.T
            for i, b in enumerate(idx):
                pos = np.flatnonzero(Wt[b] > 0)
                boot[lo + b] = _arm_curves(eta[i, pos], None if xa is None else xa[pos], beta[i], arm_col, arms,
                                           rf.ut[has[:, i]], np.cumsum(dH[has[:, i], i]), times, Wt[b, pos])
        for b in np.flatnonzero(alone):
            w = Wt[b]
            try:
                if X.shape[1] == 0 or np.any(ranges.constant(w)):
                    boot[lo + b] = _curves(T, E, X, arm_col, arms, times, ties, baseline, weights=w, init=init)[0]
                    continue
                # one replicate alone: its rows reweighted, the fit from its linear start (step halving)
                rw = rs.reweighted(w)
                beta, *_, converged = newton_cox(rw, start(w), ties, accept_step=ACCEPT_STEP)
                _check_fit(converged, beta)
                H = np.cumsum(baseline_increments(rw, beta, baseline))
                pos = w > 0
                boot[lo + b] = _arm_curves((X @ beta)[pos], None if xa is None else xa[pos], beta, arm_col, arms,
                                           rw.ut, H, times, w[pos])
            except (RuntimeError, np.linalg.LinAlgError):
                bad[b] = True
        failed += int(bad.sum())
        progress.step(m)  # a block at a time
    progress.done()
    return failed


def adjusted_cumulative_incidence(tte: pd.DataFrame, duration: str, event: str, covariates_frame: pd.DataFrame | None,
                                  treatment: str = "MH", cluster: str = "ORG_ID", years=(1, 2, 3, 4, 5),
                                  n_boot: int = 200, alpha: float = 0.10, seed: int = 0, grid_step: float = 1 / 12,
                                  ties: str = "efron", baseline: str = "breslow", min_at_risk: int = 11,
                                  max_failed_share: float = MAX_FAILED_SHARE) -> AdjustedIncidence:
    """Adjusted (standardized) cumulative incidence by arm and its difference, with bootstrap bands.

    Parameters
    ----------
    tte : analysis sample, one row per subject, with ``duration`` (years), ``event`` (0/1),
        ``treatment`` (0/1) and ``cluster`` (organization) columns.
    covariates_frame : adjustment covariates, numeric, rows aligned with ``tte`` (e.g. from
        :func:`mheval.models.equation4.design_matrix`); a ``treatment`` column in it is
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
    max_failed_share : above this share of failed replicates the bands are not estimable (NaN, the
        reason in ``table``'s ``note`` and in ``notes``; :func:`percentile_band`).

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

    counts, notes = cluster_bootstrap_counts(org, trt, n_boot, seed)
    boot, failed = bootstrap_curves(T, E, X, arm_col, arms, times, org, counts, beta, ties, baseline)
    if failed:
        notes.append(f"{failed} of {n_boot} bootstrap replicates failed to fit and were left out")

    # small-cell protection: stop where fewer than min_at_risk remain at risk in an arm
    at_risk = np.array([[(T[trt == a] >= t).sum() for t in times] for a in arms])
    ok = (at_risk >= min_at_risk).all(axis=0)

    names = [ARMS[a] for a in arms]
    series = {nm: (est[k], boot[:, k]) for k, nm in enumerate(names)}
    if len(arms) == 2:
        series["difference"] = (est[0] - est[1], boot[:, 0] - boot[:, 1])
    frames = []
    for nm, (e, bs) in series.items():
        lo, hi, band = percentile_band(bs, alpha, n_boot, failed, max_failed_share)
        f = pd.DataFrame({"years": times, "arm": nm, "estimate": 100 * e, "lower": 100 * lo, "upper": 100 * hi,
                          "note": np.where(ok, band, "")})
        f.loc[~ok, ["estimate", "lower", "upper"]] = np.nan
        frames.append(f)
    if band:
        notes.append(band)
    allc = pd.concat(frames, ignore_index=True)
    table = allc[np.isin(allc["years"], years)].rename(columns={"years": "year"}).reset_index(drop=True)
    table["year"] = table["year"].round(6)
    curves = allc[np.isin(allc["years"], grid) & allc["estimate"].notna()].drop(columns="note").reset_index(drop=True)
    return AdjustedIncidence(table=table, curves=curves, log_hr=float(beta[0]) if arm_col is not None else float("nan"),
                             covariates=list(cov.columns), nobs=len(T), n_events=int(E.sum()),
                             n_organizations=len(org_codes), n_boot=n_boot, n_boot_failed=failed, alpha=alpha, notes=notes)
