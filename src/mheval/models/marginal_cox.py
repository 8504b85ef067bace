"""Marginal Cox model with cluster-robust (sandwich) standard errors by organization.

The sensitivity analysis of Equation 4 (evaluation design report, section V.B): the
population-averaged hazard ratio of intervention vs control, with a variance that accounts for
randomization by organization (Lin and Wei 1989). Fitted with :func:`mheval.models.cox_engine.fit_cox`
(Efron ties), which agrees with lifelines and statsmodels and runs in seconds at the trial's size,
where their sandwich estimators take many minutes (see that module).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mheval.models.cox_engine import fit_cox
from mheval.models.cox_small_sample import COV_TYPES, bias_corrected_cov
from mheval.models.estimability import NotEstimable
from mheval.models.result import HazardRatioResult


@dataclass
class CoxResult(HazardRatioResult):
    """A marginal Cox fit, with the interface of :class:`~mheval.models.result.ModelResult` and
    ``hazard_ratios(alpha)``: ``params``, ``bse`` and ``cov_params()`` of the chosen variance
    (``cov_type``); ``df`` is the t reference's degrees of freedom (None: normal reference);
    ``llf`` the log partial likelihood; ``nobs`` the subjects; ``bse_robust`` the uncorrected
    sandwich SEs, kept for comparison."""

    params: pd.Series
    bse: pd.Series
    _cov: pd.DataFrame
    nobs: int
    n_events: int
    n_clusters: int
    treatment: str
    llf: float
    cov_type: str = "robust"
    df: float | None = None
    bse_robust: pd.Series | None = None

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the coefficients (of ``cov_type``)."""
        return self._cov


def fit_marginal_cox(data: pd.DataFrame, duration: str, event: str, covariates: list[str],
                     cluster: str, treatment: str = "MH", cov_type: str = "robust") -> CoxResult:
    """Fit a Cox model with sandwich standard errors clustered on ``cluster``.

    ``covariates`` must include ``treatment``; categorical covariates should be dummy-coded by
    the caller. Columns with no variation are dropped (and not reported).

    ``cov_type``: "robust" (Lin-Wei sandwich, normal reference: R's ``coxph(... + cluster())``)
    or one of the bias-corrected sandwich variances of Wang, Turner and Li (2023; R package
    CoxBcv) "kc" (Kauermann-Carroll), "fg" (Fay-Graubard), "md" (Mancl-DeRouen), "mbn"
    (Morel-Bokossa-Neerchal), with a t(G - 2) reference for G clusters
    (:func:`mheval.models.cox_small_sample.bias_corrected_cov`).
    """
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}; got {cov_type!r}")
    cols = [c for c in covariates if data[c].nunique(dropna=False) > 1 or c == treatment]
    df = data[[duration, event, cluster] + cols].copy()
    if df.isna().any().any():
        bad = df.columns[df.isna().any()].tolist()
        raise ValueError(f"missing values in model columns {bad}")
    fit = fit_cox(df[duration].to_numpy(), df[event].to_numpy(), df[cols].to_numpy(), cluster=df[cluster].to_numpy())
    if not fit.converged:
        raise NotEstimable("the Cox model did not converge (monotone likelihood: a covariate or the arm may separate the events)")
    G = int(df[cluster].nunique())
    robust = pd.Series(np.sqrt(np.diag(fit.robust_cov)), index=cols)
    cov, dof = fit.robust_cov, None
    if cov_type != "robust":
        if G <= 2 + len(cols):
            raise ValueError(f"cov_type {cov_type!r} needs more clusters than covariates + 2: "
                             f"{G} clusters, {len(cols)} covariates")
        cov = bias_corrected_cov(df[duration].to_numpy(), df[event].to_numpy(), df[cols].to_numpy(),
                                 df[cluster].to_numpy(), fit.params, cov_type)
        dof = float(G - 2)
    return CoxResult(params=pd.Series(fit.params, index=cols), bse=pd.Series(np.sqrt(np.diag(cov)), index=cols),
                     _cov=pd.DataFrame(cov, index=cols, columns=cols), nobs=len(df), n_events=int(df[event].sum()),
                     n_clusters=G, treatment=treatment, llf=fit.llf, cov_type=cov_type, df=dof, bse_robust=robust)


def crude_rates(data: pd.DataFrame, duration: str, event: str, arm: str = "MH") -> dict:
    """Events, person-years and crude rate per 1,000 person-years by arm."""
    out = {}
    for value, name in ((1, "intervention"), (0, "control")):
        d = data[data[arm] == value]
        py = float(d[duration].sum())
        ev = int(d[event].sum())
        out[name] = {"n": len(d), "events": ev, "person_years": py,
                     "rate_per_1000py": 1000 * ev / py if py > 0 else float("nan")}
    return out
